Feature: A-share execution rules
  The simulator applies the dated rulebook on raw prices. Decisions made on a bar's close fill at the
  next bar's open; every order that does not fill as asked is recorded with a reason.

  Scenario: A decision on Friday fills at Monday's open
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.20 | 9.90  | 10.10 |
      | 2024-03-04 | 10.30 | 10.50 | 10.20 | 10.40 |
    And target shares:
      | ts         | shares |
      | 2024-03-01 | 1000   |
    When the a-share backtest runs with 100000 CNY
    Then the fills are:
      | ts         | side | qty  | price | commission | stamp_duty | transfer_fee |
      | 2024-03-04 | buy  | 1000 | 10.30 | 5.00       | 0.00       | 0.10         |
    And the final cash is 89694.90

  Scenario: Shares bought in the morning cannot be sold in the same session (T+1)
    Given the stock "600000.SH" with bars:
      | ts               | open  | high  | low   | close |
      | 2024-03-01 09:45 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-01 10:00 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-01 10:15 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 09:45 | 10.00 | 10.00 | 10.00 | 10.00 |
    And target shares:
      | ts               | shares |
      | 2024-03-01 09:45 | 1000   |
      | 2024-03-01 10:00 | 0      |
    When the a-share backtest runs with 100000 CNY
    Then the fills are:
      | ts               | side | qty  | price | commission | stamp_duty | transfer_fee |
      | 2024-03-01 10:00 | buy  | 1000 | 10.00 | 5.00       | 0.00       | 0.10         |
      | 2024-03-04 09:45 | sell | 1000 | 10.00 | 5.00       | 5.00       | 0.10         |
    And the rejected orders are:
      | ts               | side | reason    |
      | 2024-03-01 10:15 | sell | T1_LOCKED |
    And the final cash is 99984.80

  Scenario: A stock opening at limit-up cannot be bought
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 | 11.00 | 11.00 | 10.80 | 11.00 |
      | 2024-03-05 | 11.50 | 11.80 | 11.20 | 11.60 |
    And target shares:
      | ts         | shares |
      | 2024-03-01 | 1000   |
    When the a-share backtest runs with 100000 CNY
    Then the fills are:
      | ts         | side | qty  | price | commission | stamp_duty | transfer_fee |
      | 2024-03-05 | buy  | 1000 | 11.50 | 5.00       | 0.00       | 0.12         |
    And the rejected orders are:
      | ts         | side | reason          |
      | 2024-03-04 | buy  | LIMIT_UP_LOCKED |
    And the final cash is 88494.88

  Scenario: Under the "locked" policy a bar that only touches the limit is tradable
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 | 11.00 | 11.00 | 10.80 | 11.00 |
    And target shares:
      | ts         | shares |
      | 2024-03-01 | 1000   |
    When the a-share backtest runs with 100000 CNY and limit policy "locked"
    Then the fills are:
      | ts         | side | qty  | price | commission | stamp_duty | transfer_fee |
      | 2024-03-04 | buy  | 1000 | 11.00 | 5.00       | 0.00       | 0.11         |

  Scenario: A stock opening at limit-down cannot be sold
    Given the stock "000001.SZ" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-05 | 9.00  | 9.00  | 9.00  | 9.00  |
      | 2024-03-06 | 8.50  | 8.60  | 8.40  | 8.50  |
    And target shares:
      | ts         | shares |
      | 2024-03-01 | 1000   |
      | 2024-03-04 | 0      |
    When the a-share backtest runs with 100000 CNY
    Then the fills are:
      | ts         | side | qty  | price | commission | stamp_duty | transfer_fee |
      | 2024-03-04 | buy  | 1000 | 10.00 | 5.00       | 0.00       | 0.10         |
      | 2024-03-06 | sell | 1000 | 8.50  | 5.00       | 4.25       | 0.09         |
    And the rejected orders are:
      | ts         | side | reason            |
      | 2024-03-05 | sell | LIMIT_DOWN_LOCKED |
    And the final cash is 98485.56

  Scenario: A suspended stock cannot trade
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close | suspended |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 | false     |
      | 2024-03-04 |       |       |       |       | true      |
      | 2024-03-05 | 10.20 | 10.30 | 10.10 | 10.20 | false     |
    And target shares:
      | ts         | shares |
      | 2024-03-01 | 500    |
    When the a-share backtest runs with 100000 CNY
    Then the fills are:
      | ts         | side | qty | price | commission | stamp_duty | transfer_fee |
      | 2024-03-05 | buy  | 500 | 10.20 | 5.00       | 0.00       | 0.05         |
    And the rejected orders are:
      | ts         | side | reason    |
      | 2024-03-04 | buy  | SUSPENDED |

  Scenario: STAR accepts 201 shares while the main board rounds to 200
    Given the stock "688001.SH" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 50.00 | 50.00 | 50.00 | 50.00 |
      | 2024-03-04 | 50.00 | 50.00 | 50.00 | 50.00 |
    And the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 | 10.00 | 10.00 | 10.00 | 10.00 |
    And target shares:
      | ts         | symbol    | shares |
      | 2024-03-01 | 688001.SH | 201    |
      | 2024-03-01 | 600000.SH | 201    |
    When the a-share backtest runs with 100000 CNY
    Then the fills are:
      | ts         | symbol    | side | qty | price | commission | stamp_duty | transfer_fee |
      | 2024-03-04 | 600000.SH | buy  | 200 | 10.00 | 5.00       | 0.00       | 0.02         |
      | 2024-03-04 | 688001.SH | buy  | 201 | 50.00 | 5.00       | 0.00       | 0.10         |

  Scenario: STAR below 200 shares rounds to zero; an odd remainder is only sellable to close out
    Given the stock "688001.SH" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 50.00 | 50.00 | 50.00 | 50.00 |
      | 2024-03-04 | 50.00 | 50.00 | 50.00 | 50.00 |
      | 2024-03-05 | 50.00 | 50.00 | 50.00 | 50.00 |
      | 2024-03-06 | 50.00 | 50.00 | 50.00 | 50.00 |
    And target shares:
      | ts         | shares |
      | 2024-03-01 | 250    |
      | 2024-03-04 | 100    |
      | 2024-03-05 | 0      |
    When the a-share backtest runs with 100000 CNY
    Then the fills are:
      | ts         | side | qty | price | commission | stamp_duty | transfer_fee |
      | 2024-03-04 | buy  | 250 | 50.00 | 5.00       | 0.00       | 0.13         |
      | 2024-03-06 | sell | 250 | 50.00 | 5.00       | 6.25       | 0.13         |
    And the rejected orders are:
      | ts         | side | reason              |
      | 2024-03-05 | sell | LOT_ROUNDED_TO_ZERO |

  Scenario: Buys are scaled down to the cash available after fees
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 | 10.00 | 10.00 | 10.00 | 10.00 |
    And target shares:
      | ts         | shares |
      | 2024-03-01 | 1000   |
    When the a-share backtest runs with 5000 CNY
    Then the fills are:
      | ts         | side | qty | price | commission | stamp_duty | transfer_fee |
      | 2024-03-04 | buy  | 400 | 10.00 | 5.00       | 0.00       | 0.04         |
    And the partially filled orders are:
      | ts         | side | reason            |
      | 2024-03-04 | buy  | INSUFFICIENT_CASH |
    And the final cash is 994.96

  Scenario: A bar with zero volume blocks orders like a suspension
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close | volume  |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 | 1000000 |
      | 2024-03-04 | 10.00 | 10.00 | 10.00 | 10.00 | 0       |
      | 2024-03-05 | 10.10 | 10.20 | 10.00 | 10.10 | 1000000 |
    And target shares:
      | ts         | shares |
      | 2024-03-01 | 1000   |
    When the a-share backtest runs with 100000 CNY
    Then the fills are:
      | ts         | side | qty  | price | commission | stamp_duty | transfer_fee |
      | 2024-03-05 | buy  | 1000 | 10.10 | 5.00       | 0.00       | 0.10         |
    And the rejected orders are:
      | ts         | side | reason    |
      | 2024-03-04 | buy  | SUSPENDED |

  Scenario: On an ex-rights date the limit comes from the ex-rights reference price, and the trip earns the bonus
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close | adj_factor |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 | 1.0        |
      | 2024-03-04 | 10.00 | 10.00 | 10.00 | 10.00 | 1.0        |
      | 2024-03-05 | 5.00  | 5.00  | 5.00  | 5.00  | 2.0        |
    And target shares:
      | ts         | shares |
      | 2024-03-01 | 1000   |
      | 2024-03-04 | 0      |
    When the a-share backtest runs with 100000 CNY
    Then the fills are:
      | ts         | side | qty  | price | commission | stamp_duty | transfer_fee |
      | 2024-03-04 | buy  | 1000 | 10.00 | 5.00       | 0.00       | 0.10         |
      | 2024-03-05 | sell | 1000 | 5.00  | 5.00       | 2.50       | 0.05         |
    And the final cash is 99987.35
    And the round trips are:
      | entry      | exit       | dividends | pnl    |
      | 2024-03-04 | 2024-03-05 | 5000.00   | -12.65 |
