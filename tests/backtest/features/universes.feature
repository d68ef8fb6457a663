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

  Scenario: A top-N momentum selection ranks each session's members only and holds N of them
    # 000010.SZ joins CSI 300 on 2024-01-02 (its first weight date). Before it, its 5-session return ranks
    # first or second of the three stocks on the rebalance sessions below, yet only the two members are
    # ranked, so both are held (a ranking over all three, masked afterwards, held one stock there); from
    # 2024-01-02 the best two of the three members. Returns from the stored (back-adjusted) closes of the
    # rebalance session and 5 sessions before; the picks fill at the next session's open.
    Given a backtest of momentum_rotation holding 2 stocks on the CSI 300 members from "2023-03-01" to "2024-06-28"
    When its run succeeds
    Then from the first fill on it holds 2 stocks on every session, each a CSI 300 member on that session
    And on these rebalance sessions the 5-session returns and the stocks held after the next open are
      | session    | next       | 600010.SH | 300010.SZ | 000010.SZ | held                |
      | 2023-03-15 | 2023-03-16 | -0.0827   | 0.0185    | 0.0979    | 300010.SZ,600010.SH |
      | 2023-04-13 | 2023-04-14 | 0.071     | 0.0549    | 0.0706    | 300010.SZ,600010.SH |
      | 2023-07-06 | 2023-07-07 | -0.0562   | -0.1031   | 0.157     | 300010.SZ,600010.SH |
      | 2023-10-20 | 2023-10-23 | -0.1424   | 0.0877    | 0.1299    | 300010.SZ,600010.SH |
      | 2023-12-08 | 2023-12-11 | 0.0497    | -0.0591   | 0.0667    | 300010.SZ,600010.SH |
      | 2024-01-08 | 2024-01-09 | 0.0375    | -0.0821   | -0.0508   | 000010.SZ,600010.SH |
      | 2024-02-27 | 2024-02-28 | -0.0421   | 0.0392    | 0.0356    | 000010.SZ,300010.SZ |
      | 2024-03-26 | 2024-03-27 | 0.1079    | 0.013     | -0.0321   | 300010.SZ,600010.SH |

  Scenario: User code ranking with top_n without FIELDS holds N members of a point-in-time selection
    # momentum_rotation's source as inline code (so it runs in the confined runner, not in process): its
    # bars carry in_universe although it declares no FIELDS, and top_n ranks each session's members only
    Given a backtest of inline momentum_rotation code holding 2 stocks on the CSI 300 members from "2023-03-01" to "2024-06-28"
    When its run succeeds
    Then from the first fill on it holds 2 stocks on every session, each a CSI 300 member on that session

  Scenario: A selection is refused when it names neither an index nor all
    When the user creates a backtest on the universe {"exclude_st": true}
    Then the answer is 422 INVALID_INPUT naming "context.universe"

  Scenario: A sweep of a point-in-time selection sees the membership of a single run, combination by combination
    # each batch resolves the CSI 300 membership once through market_data and masks every combination's
    # targets to it, as a single run does: the best combination re-run alone has the same metrics.
    Given a backtest of momentum_rotation holding 3 stocks on the CSI 300 members from "2023-03-01" to "2024-06-28"
    When the user submits a grid sweep of top_n "1,2,3" and lookback "5,20" in batches of 2 and its batches run
    Then every one of the 6 combinations succeeded and they do not all have the same total return
    When the user promotes the best combination and its run succeeds
    Then the run has the metrics of the sweep's best combination
    And "000010.SZ" is never held before "2024-01-02" and is held after it

  Scenario: A Bayesian sweep of a point-in-time selection
    Given a backtest of momentum_rotation holding 3 stocks on the CSI 300 members from "2023-03-01" to "2024-06-28"
    When the user submits a Bayesian sweep of top_n from 1 to 3 and lookback from 5 to 20 with 4 evaluations and its batches run
    Then every one of the 4 evaluations succeeded
    When the user promotes the best combination and its run succeeds
    Then the run has the metrics of the sweep's best combination

  Scenario: A walk-forward validation of a sweep of a point-in-time selection
    Given a backtest of momentum_rotation holding 3 stocks on the CSI 300 members from "2023-03-01" to "2024-06-28"
    When the user submits a grid sweep of top_n "1,2" with a walk-forward of 6m training and 3m test and its batches run
    Then the validation has 3 folds, each with its best combination and an out-of-sample result

  Scenario: value_rotation holds the lowest-PB members of CSI 800 and a member only after it joins
    # 000010.SZ is the cheapest stock by PB all along, but joins CSI 800 (through CSI 300) only on
    # 2024-01-02: before it the two members with bars are held; from then on 000010.SZ and the cheaper of
    # the other two. PB is the sample's daily_basic of the rebalance session (known at its close), the
    # picks fill at the next session's open.
    Given a backtest of value_rotation holding 2 stocks on the CSI 800 members from "2023-10-01" to "2024-06-28"
    When its run succeeds
    Then on each rebalance session the stored PB and the stocks held after the next open are
      | session    | next       | 600010.SH | 300010.SZ | 000010.SZ | held                |
      | 2023-10-09 | 2023-10-10 | 0.5167    | 1.6626    | 0.3253    | 300010.SZ,600010.SH |
      | 2023-11-01 | 2023-11-02 | 0.4487    | 1.4765    | 0.3058    | 300010.SZ,600010.SH |
      | 2023-12-01 | 2023-12-04 | 0.4892    | 1.5039    | 0.3035    | 300010.SZ,600010.SH |
      | 2024-01-02 | 2024-01-03 | 0.5324    | 1.1774    | 0.2802    | 000010.SZ,600010.SH |
      | 2024-02-01 | 2024-02-02 | 0.6242    | 1.0139    | 0.2290    | 000010.SZ,600010.SH |
      | 2024-03-01 | 2024-03-04 | 0.7114    | 0.9993    | 0.2694    | 000010.SZ,600010.SH |
      | 2024-04-01 | 2024-04-02 | 0.8686    | 0.6708    | 0.2701    | 000010.SZ,300010.SZ |
      | 2024-05-06 | 2024-05-07 | 0.7923    | 0.7285    | 0.2600    | 000010.SZ,300010.SZ |
      | 2024-06-03 | 2024-06-04 | 0.8266    | 0.8789    | 0.2953    | 000010.SZ,600010.SH |

  Scenario: A strategy declaring an unknown fundamental field is refused naming it
    When the user creates a backtest of inline code declaring FIELDS = ["pb", "roe"]
    Then the answer is 422 INVALID_INPUT naming "strategyRef.code"
    And the error names the unknown field "roe"

  Scenario: Fundamentals stored for only part of the universe are a warning of the backtest and of its run
    # the index 000300.SH has daily bars but no daily_basic: pb is known on 600010.SH's sessions only
    When the user creates a backtest of inline code declaring FIELDS = ["pb"] on "600010.SH,000300.SH" from "2024-01-02" to "2024-03-29"
    Then the backtest is created warning that pb is known on half of its stock-sessions
    When its run succeeds
    Then the run's log and manifest carry the warning that pb is known on half of its stock-sessions

  Scenario: Fundamentals stored for none of the universe are refused naming the fields
    When the user creates a backtest of inline code declaring FIELDS = ["pb", "pe"] on "000300.SH" from "2024-01-02" to "2024-03-29"
    Then the answer is 422 INVALID_INPUT naming "strategyRef.code"
    And the error names the missing fields "pb,pe"

  Scenario: A float value filter keeps a stock only on the sessions its float value reaches the minimum
    When the CSI 300 members from "2024-01-02" to "2024-01-31" are selected with a float value of at least 3500000000 CNY
    Then "600010.SH" and "300010.SZ" are selected on every session
    And "000010.SZ" is selected on exactly the sessions its stored circ_mv is at least 350000 (10,000 CNY), some but not all
    And the members without daily_basic rows are never selected

  Scenario: A sweep of a strategy declaring fundamentals reads them in every combination
    Given a backtest of value_rotation holding 1 stocks on the three sample stocks from "2023-10-01" to "2024-06-28"
    When the user submits a grid sweep of n "1,2,3" and its batches run
    Then every combination succeeded and the one of n 1 has the total return of a single run with n 1
