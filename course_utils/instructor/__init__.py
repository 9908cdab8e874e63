"""What the lessons never import: the instructor's tools.

    cli.py      the `course` command (argparse only; each verb calls one function below)
    runner.py   executing lessons with papermill, -p values, the summary table
    labs.py     `course sweep`, `course search` (Optuna) and `course report`
    handout.py  the student versions (solutions cut out with nbgrader) and `course solution`
    grading.py  grading submitted notebooks with the hidden tests
    site.py     `course site`: HTML pages of executed lessons

Modules here import the lesson-facing helpers of course_utils; nothing there imports this package
(tests/test_conventions.py checks it).
"""
