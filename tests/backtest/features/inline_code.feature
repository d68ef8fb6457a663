Feature: Inline strategy code, exit rules and the look-ahead audit of a backtest
  A one-off experiment is one call: `POST /api/backtests` with `strategyRef.code` saves the code as a new
  strategy of the caller's (checked like any saved strategy) and pins it. A strategy may declare engine
  exit rules, or the backtest's rules may set them; a filled exit carries its reason in the orders. The
  look-ahead audit recomputes the targets on prefixes of the window and reports the first session and
  symbol where they differ from the whole window's.

  Background:
    Given the sample data
    And a signed-in user

  Scenario: Inline code with a stop-loss is saved, pinned and run, and its exits carry their reason
    When the user creates a backtest with inline code holding every symbol with a 3% stop-loss
    Then the answer is 201 and the backtest pins version 1 of a new strategy of the user's with that code
    When the backtest's run with weight 0.3 succeeds
    Then the orders show sells with the reason STOP_LOSS
    And the run's manifest lists the exit rules {"stop_loss": 0.03}

  Scenario: Bad inline code is refused with the errors of saving a strategy, and nothing is created
    When the user creates a backtest with inline code importing "os"
    Then the answer is the 422 INVALID_INPUT saving that code as a strategy gives, naming "strategyRef.code"
    And the user has no backtest and no strategy

  Scenario: A backtest's rules set a take-profit for a template
    When the user creates a backtest of the template "ma_cross" with the rules {"take_profit": 0.02}
    And the backtest's run with fast 5 and slow 20 succeeds
    Then the orders show sells with the reason TAKE_PROFIT

  Scenario: The look-ahead audit flags a strategy reading the next bar, with the first session and symbol
    When the user creates a backtest with inline code reading the next bar and the rules {"audit_lookahead": "warn"}
    And the backtest's run with weight 0.3 succeeds
    Then the run's manifest reports LOOKAHEAD on the last session of the window's first quarter for "000010.SZ"
    And the run's log has the warning "LOOKAHEAD: the targets change when later bars are added"

  Scenario: A strict look-ahead audit fails the run of a peeking strategy
    When the user creates a backtest with inline code reading the next bar and the rules {"audit_lookahead": "strict"}
    And the backtest's run with weight 0.3 fails
    Then the run's error is INVALID_INPUT with the code LOOKAHEAD for "000010.SZ"

  Scenario: An honest template passes the look-ahead audit
    When the user creates a backtest of the template "ma_cross" with the rules {"audit_lookahead": "strict"}
    And the backtest's run with fast 5 and slow 20 succeeds
    Then the run's manifest reports the look-ahead audit passed on 3 prefixes

  Scenario: The inline stop-loss strategy runs in a sweep whose rows equal its single runs
    When the user creates a backtest with inline code holding every symbol with a 3% stop-loss
    And the user sweeps it over weight "0.2,0.3" and its batches run
    Then each result row's total return equals a single run with its weight, whose orders show STOP_LOSS exits

  Scenario: A pasted JoinQuant-style stop-loss strategy shows its stop exits with their reasons
    When the user creates a backtest with a pasted JoinQuant-style stop-loss strategy
    And the backtest's run with stop_loss 0.03 succeeds
    Then the orders show filled sells tagged STOP_LOSS, each at least 3% below the position's average cost
    And the run's orders page shows the tag STOP_LOSS
    And the run's report counts its filled sells tagged STOP_LOSS

  Scenario: The pasted JoinQuant-style strategy runs in a sweep over its stop threshold
    When the user creates a backtest with a pasted JoinQuant-style stop-loss strategy
    And the user sweeps it over stop_loss "0.03,0.05" and its batches run
    Then each result row's total return equals a single run with its stop_loss, whose orders show sells tagged STOP_LOSS

  Scenario: Engine exit rules apply to a pasted event-driven strategy
    When the user creates a backtest with a pasted event-driven strategy holding every symbol with a 3% stop-loss
    And the backtest's run with weight 0.3 succeeds
    Then the orders show sells with the reason STOP_LOSS
    And the run's manifest lists the exit rules {"stop_loss": 0.03}
