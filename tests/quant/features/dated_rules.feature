Feature: Dated rules: fees and price limits change on their effective dates

  Scenario: The 5 CNY minimum commission applies to small orders
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 | 10.00 | 10.00 | 10.00 | 10.00 |
    And target shares:
      | ts         | shares |
      | 2024-03-01 | 100    |
    When the a-share backtest runs with 100000 CNY
    Then the fills are:
      | ts         | side | qty | price | commission | stamp_duty | transfer_fee |
      | 2024-03-04 | buy  | 100 | 10.00 | 5.00       | 0.00       | 0.01         |
    And the final cash is 98994.99

  Scenario Outline: Stamp duty on sells is 0.1% before 2023-08-28 and 0.05% from that day
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close |
      | <buy_day>  | 10.00 | 10.00 | 10.00 | 10.00 |
      | <decide>   | 10.00 | 10.00 | 10.00 | 10.00 |
      | <sell_day> | 10.00 | 10.00 | 10.00 | 10.00 |
    And target shares:
      | ts         | shares |
      | <buy_day>  | 10000  |
      | <decide>   | 0      |
    When the a-share backtest runs with 200000 CNY
    Then the sell on <sell_day> pays stamp duty <stamp> and commission 25.00

    Examples:
      | buy_day    | decide     | sell_day   | stamp  |
      | 2023-08-23 | 2023-08-24 | 2023-08-25 | 100.00 |
      | 2023-08-24 | 2023-08-25 | 2023-08-28 | 50.00  |

  Scenario Outline: Main-board ST stocks move ±5% until 2026-07-05 and ±10% from 2026-07-06
    Given the ST stock "600001.SH" with bars:
      | ts       | open  | high  | low   | close |
      | <before> | 10.00 | 10.00 | 10.00 | 10.00 |
      | <day>    | 10.50 | 10.50 | 10.50 | 10.50 |
    And target shares:
      | ts       | shares |
      | <before> | 1000   |
    When the a-share backtest runs with 100000 CNY
    Then the buy on <day> is <outcome>

    Examples:
      | before     | day        | outcome                 |
      | 2026-07-02 | 2026-07-03 | blocked LIMIT_UP_LOCKED |
      | 2026-07-03 | 2026-07-06 | filled                  |

  Scenario Outline: ChiNext moves ±10% before 2020-08-24 and ±20% from that day
    Given the stock "300001.SZ" with bars:
      | ts       | open  | high  | low   | close |
      | <before> | 10.00 | 10.00 | 10.00 | 10.00 |
      | <day>    | 11.00 | 11.00 | 11.00 | 11.00 |
    And target shares:
      | ts       | shares |
      | <before> | 1000   |
    When the a-share backtest runs with 100000 CNY
    Then the buy on <day> is <outcome>

    Examples:
      | before     | day        | outcome                 |
      | 2020-08-20 | 2020-08-21 | blocked LIMIT_UP_LOCKED |
      | 2020-08-21 | 2020-08-24 | filled                  |

  Scenario Outline: Limit prices round half up to the fen (1.05 × 1.10 = 1.155 → 1.16)
    Given the stock "600000.SH" with bars:
      | ts         | open   | high   | low    | close  |
      | 2024-03-01 | 1.05   | 1.05   | 1.05   | 1.05   |
      | 2024-03-04 | <open> | <open> | <open> | <open> |
    And target shares:
      | ts         | shares |
      | 2024-03-01 | 1000   |
    When the a-share backtest runs with 100000 CNY
    Then the buy on 2024-03-04 is <outcome>

    Examples:
      | open | outcome                 |
      | 1.15 | filled                  |
      | 1.16 | blocked LIMIT_UP_LOCKED |

  Scenario Outline: The BSE transfer fee is 0.025‰ until 2022-04-28 and 0.01‰ from 2022-04-29
    Given the stock "830799.BJ" with bars:
      | ts        | open  | high  | low   | close |
      | <decide>  | 10.00 | 10.00 | 10.00 | 10.00 |
      | <buy_day> | 10.00 | 10.00 | 10.00 | 10.00 |
    And target shares:
      | ts       | shares |
      | <decide> | 10000  |
    When the a-share backtest runs with 200000 CNY
    Then the fills are:
      | ts        | side | qty   | price | commission | stamp_duty | transfer_fee |
      | <buy_day> | buy  | 10000 | 10.00 | 25.00      | 0.00       | <transfer>   |

    Examples:
      | decide     | buy_day    | transfer |
      | 2022-04-27 | 2022-04-28 | 2.50     |
      | 2022-04-28 | 2022-04-29 | 1.00     |
