"""The scheduler and its jobs (SPEC sections 4 and 7): runs in its own process, never in web
workers. `jobs.schedule.JOBS` is the one list of jobs; `jobs.tasks` holds the jobs themselves;
`jobs.lock` keeps a second scheduler waiting; `jobs.cli` adds `mat-review jobs run|run-once`.
"""
