"""Small helpers the course's notebooks share. Import the submodule a lesson needs:

    from course_utils import config, data, models, evaluate, plots, runs

Importing this package does no work: nothing is built, downloaded or configured.
"""

__version__ = "0.1.0"
