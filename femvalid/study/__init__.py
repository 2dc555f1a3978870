"""Study files, the job matrix, and running them."""

from femvalid.study.runner import JobResult, StudyResult, run_study
from femvalid.study.studyfile import Design, Study, read_study

__all__ = ["Design", "JobResult", "Study", "StudyResult", "read_study", "run_study"]
