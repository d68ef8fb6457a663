Feature: Parameter grids on the local engine
  `huice backtest local --grid` sweeps only the combinations a strategy accepts — its schema and its own
  `check_params` — and says which it skipped and why.

  Scenario: A sweep keeps fast < slow and reports the other combinations
    When the quant runs "backtest local ma_cross --sample --grid fast=10:40:10 --grid slow=20,40 --json"
    Then the summary holds the fast/slow combinations "10/20 10/40 20/40 30/40"
    And 4 combinations were skipped with field "fast" and error "must be smaller than slow"

  Scenario: The table says how many combinations were skipped
    When the quant runs "backtest local ma_cross --sample --grid fast=5:50:5 --grid slow=20:200:20"
    Then the table ranks "top 20 of 90 combinations by Sharpe"
    And the command notes "skipped 10 of 100 combinations: fast: must be smaller than slow (10)"

  Scenario: A grid with no acceptable combination is an error
    When the quant runs "backtest local ma_cross --sample --grid fast=30,40 --grid slow=20,30"
    Then the command exits 2 with INVALID_INPUT "fast: must be smaller than slow" naming "fast"
