"""Task names and queues: the contract between producers and workers, kept in one place."""

SCORING_QUEUE = "scoring"
TRAINING_QUEUE = "training"
# Short housekeeping tasks (the sweeper): kept apart so a scoring backlog cannot delay them.
MAINTENANCE_QUEUE = "maintenance"
# Every queue a worker consumes by default.
QUEUES = (SCORING_QUEUE, TRAINING_QUEUE, MAINTENANCE_QUEUE)

SCORE_SUBMISSION = "trustq.score_submission"
TRAIN_MODEL = "trustq.train_model"
RETRAIN_CHECK = "trustq.retrain_check"
RETRAIN_SCHEDULED = "trustq.retrain_scheduled"
RETRAIN_RUN = "trustq.retrain_run"
SWEEP_SUBMISSIONS = "trustq.sweep_submissions"
ERASE_EXPIRED_RESUMES = "trustq.erase_expired_resumes"

ROUTES = {
    SCORE_SUBMISSION: {"queue": SCORING_QUEUE},
    TRAIN_MODEL: {"queue": TRAINING_QUEUE},
    RETRAIN_CHECK: {"queue": MAINTENANCE_QUEUE},
    RETRAIN_SCHEDULED: {"queue": MAINTENANCE_QUEUE},
    RETRAIN_RUN: {"queue": TRAINING_QUEUE},
    SWEEP_SUBMISSIONS: {"queue": MAINTENANCE_QUEUE},
    ERASE_EXPIRED_RESUMES: {"queue": MAINTENANCE_QUEUE},
}
