Feature: Bad input is refused with a clear envelope, and nothing is queued

  Background:
    Given the sample data
    And a signed-in user

  Scenario Outline: Creating a backtest with bad input
    When the user creates a backtest with <problem>
    Then the answer is 422 INVALID_INPUT naming "<field>" with the message "<message>"
    And nothing was created or queued for the user

    Examples:
      | problem                                | field                  | message                                                                    |
      | the unknown code 999999.SH             | context.universe       | unknown or malformed symbols: 999999.SH                                    |
      | a window without trading sessions      | context.window         | no trading sessions between 2024-02-10 and 2024-02-11                      |
      | the end before the start               | context.window         | window end 2023-01-01 is before start 2023-06-01                           |
      | the frequency 5min that has no data    | context.frequency      | no 5min bars between 2023-03-01 and 2024-06-28 in snapshot {snapshot} for: 600010.SH, 000010.SZ, 300010.SZ |
      | default params out of bounds           | params.fast            | parameter fast: must be >= 2                                               |
      | a strategy version that fails validation | strategyRef          | the strategy raised an error: ValueError: this strategy is broken          |
      | inline code declaring a stop-loss of 150% | strategyRef.code    | the strategy's exit rules are invalid: line 3: stop_loss must be a fraction > 0 and < 1 |
      | a stop-loss of 1.5 in the rules        | context.rules.stop_loss | invalid input: context.rules.stop_loss                                   |
      | both a template and inline code        | strategyRef            | invalid input: strategyRef                                                 |
      | an unknown look-ahead audit            | context.rules.audit_lookahead | invalid input: context.rules.audit_lookahead                        |

  Scenario: Run params out of bounds are refused before anything is queued
    Given a backtest of the template "ma_cross" on three sample symbols
    When the user submits a single run with fast 1 and slow 20
    Then the answer is 422 INVALID_INPUT naming "params.fast" with the message "parameter fast: must be >= 2"
    And no run was queued for the user
