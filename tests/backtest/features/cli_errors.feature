Feature: Errors from the terminal
  `huice backtest` prints the error envelope on stderr with `--json` (one readable line with a hint without it)
  and exits non-zero with the code of its kind (here 2 for invalid input and 3 for not found; a conflict, 5,
  ends the loop of `cli.feature`).

  Background:
    Given the sample data
    And a signed-in user of the CLI

  Scenario: Bad input prints the envelope and exits non-zero
    When the user runs "backtest create --template ma_cross --symbols 999999.SH --start 2023-03-01 --end 2024-06-28 --json"
    Then the command exits 2 with the error code "INVALID_INPUT" naming "context.universe"
    When the user runs "backtest status 00000000-0000-7000-8000-000000000000 --json"
    Then the command exits 3 with the error code "NOT_FOUND"
    When the user runs "backtest create --template ma_cross --symbols 600010.SH --index 000300.SH --start 2023-03-01 --end 2024-06-28 --json"
    Then the command exits 2 with the error code "INVALID_INPUT" naming "--symbols"
    When the user runs "backtest create --code-file {dir}/missing.py --symbols 600010.SH --start 2023-03-01 --end 2024-06-28 --json"
    Then the command exits 2 with the error code "INVALID_INPUT" naming "--code-file"

  Scenario: Without --json an error is one readable line with a hint
    When the user runs "backtest status 00000000-0000-7000-8000-000000000000"
    Then the command exits 3 with one line on stderr ending "(NOT_FOUND) — hint: check the id (list commands show full ids)"
    When the user runs "backtest create --template ma_cros --symbols 600010.SH --start 2023-03-01 --end 2024-06-28"
    Then the command exits 3 with one line on stderr ending "did you mean 'ma_cross'? (NOT_FOUND, field: strategyRef.template)"
    When the user runs "backtest create --template ma_cross --symbols 600010 --start 2023-03-01 --end 2024-06-28"
    Then the command exits 2 with one line on stderr ending "did you mean 600010 → 600010.SH? (INVALID_INPUT, field: context.universe)"
