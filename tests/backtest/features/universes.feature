Feature: Point-in-time universes
  A backtest's universe can be an index (its members as of each session) or every listed stock, with
  filters; a stock is held only on the sessions it belongs to.

  Background:
    Given a signed-in user

  Scenario: A stock that joins the index mid-window is held only after it joins
    Given a backtest of momentum_rotation holding 3 stocks on the CSI 300 members from "2023-03-01" to "2024-06-28"
    Then the backtest holds "000010.SZ,300010.SZ,600010.SH" and warns that the members without bars are left out
    When its run succeeds
    Then "000010.SZ" is never held before "2024-01-02" and is held after it
    And "600010.SH" is held before "2024-01-02"

  Scenario: A selection is refused when it names neither an index nor all
    When the user creates a backtest on the universe {"exclude_st": true}
    Then the answer is 422 INVALID_INPUT naming "context.universe"

  Scenario: Sweeps of a point-in-time selection are refused
    Given a backtest of momentum_rotation holding 3 stocks on the CSI 300 members from "2023-03-01" to "2024-06-28"
    When the user submits a grid sweep of it
    Then the answer is 422 INVALID_INPUT naming "context.universe"
