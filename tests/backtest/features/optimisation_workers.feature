Feature: Optimisation on real workers
  Sweeps are ordinary jobs on the RQ + PostgreSQL runtime: two `huice worker-process` children run the
  batches, at most `concurrency_limit` at once, and a worker killed mid-batch costs a retry, never a
  duplicate row.

  Background:
    Given running workers over the sample data
    And a signed-in user
    And a signed-in user of the CLI

  Scenario: The CLI sweeps a grid on the workers and prints the Top-N with the diagnostics
    When the user runs "backtest create --template ma_cross --param fast=5 --param slow=20 --symbols 600010.SH,000010.SZ,300010.SZ --start 2023-03-01 --end 2024-06-28 --benchmark 000300.SH --json"
    Then the command succeeds and prints the new backtest
    When the user runs "backtest optimize {backtest} --grid fast=5:50:5 --grid slow=20:200:20 --max-evals 40 --early-stop sharpe:max:50 --budget 10m --batch-size 10 --wait"
    Then the command succeeds showing a progress bar, the optimisation's id and the top 10 of 40 with the deflated Sharpe ratio and PBO
    When the user runs "backtest optimization show {optimization} --json"
    Then the command prints the optimisation "succeeded" with 40 evaluations
    When the user runs "backtest optimization heatmap {optimization} --x fast --y slow --json"
    Then the command prints a heatmap with 10 x values
    When the user runs "backtest optimization results {optimization} --sort max_drawdown --order asc --limit 5 --json"
    Then the command prints 5 results in ascending max_drawdown
    When the user runs "backtest optimization promote {optimization} 0 --json"
    Then the command prints a new run id
    When the user runs "backtest optimization cancel {optimization}"
    Then the command exits 5 with the error code "CONFLICT"

  Scenario: Concurrent batches never exceed the concurrency limit
    Given a backtest of the template "ma_cross" on three sample symbols
    When the user sweeps 90 combinations in batches of 10 with a concurrency limit of 1 on the workers
    Then the sweep succeeds with 90 evaluations in 9 batches
    And no two batch jobs ran at the same time

  Scenario: A worker killed mid-batch costs a retry and no duplicate rows
    Given a backtest of a slow stub strategy
    When the user sweeps 4 combinations of it in one batch on the workers
    And the worker running the batch is killed with SIGKILL
    And the reaper hands the batch to another worker
    Then the sweep succeeds with 4 evaluations stored once each
    And the batch job took 2 attempts
