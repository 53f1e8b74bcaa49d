"""Operations that change state. Each takes and returns domain objects and flushes; the request
or job that calls it commits once at its edge (or rolls back on error)."""
