"""Dataset jobs: the ScoreDataset state machine's plan, shard and reduce steps."""
