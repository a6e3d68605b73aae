"""Task names and queues: the contract between producers and workers, kept in one place."""

SCORING_QUEUE = "scoring"
TRAINING_QUEUE = "training"

SCORE_SUBMISSION = "trustq.score_submission"
TRAIN_MODEL = "trustq.train_model"

ROUTES = {
    SCORE_SUBMISSION: {"queue": SCORING_QUEUE},
    TRAIN_MODEL: {"queue": TRAINING_QUEUE},
}
