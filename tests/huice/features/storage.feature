Feature: Bars and artifacts on an S3-compatible object store
  With HUICE_STORAGE_URL=s3://bucket/prefix every process — the CLI, the API and the workers, on any
  machine — keeps the bar partitions and the run artifacts in the bucket, and none of them in the local
  data directory.

  Scenario: The sample data, a run on a worker, its report, trades and share link all live in the bucket
    Given huice configured with HUICE_STORAGE_URL on a local S3 server
    When the operator runs "huice data load-sample" for the three sample symbols and the benchmark
    And the operator runs "huice data check"
    And a user runs a backtest of "ma_cross" on a worker process with the same settings
    And the user downloads the run's report, reads its trades and opens a share link of it
    Then every bar partition of the sample snapshot is an object below "market/bars/" of the bucket
    And the run's artifacts and its report cache are objects below "artifacts/" of the bucket
    And nothing was written below the local data directory
    And "/ready" reports the storage as "s3" with the bucket and without the secret key
