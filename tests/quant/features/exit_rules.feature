Feature: Exit rules of vectorised strategies
  A stop-loss, take-profit or trailing stop (fractions of the entry price) is judged on each bar's low and
  high, decided on that bar's close and executed at the next fill under every A-share rule: not before the
  shares are sellable (T+1), not on a limit-down locked bar. A filled exit carries its own reason.

  Scenario: A stop-loss triggered on the buying day is executed only when the shares are sellable
    Given the stock "600000.SH" with bars:
      | ts               | open  | high  | low   | close |
      | 2024-03-01 09:45 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 09:45 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-05 09:45 | 10.00 | 10.00 | 9.10  | 9.20  |
      | 2024-03-05 10:00 | 9.20  | 9.30  | 9.10  | 9.20  |
      | 2024-03-05 10:15 | 9.20  | 9.30  | 9.10  | 9.20  |
      | 2024-03-06 09:45 | 9.30  | 9.40  | 9.20  | 9.30  |
    And target shares:
      | ts               | shares |
      | 2024-03-04 09:45 | 1000   |
    When the a-share backtest runs with 100000 CNY and exit rule stop_loss 0.08
    Then the orders are:
      | ts               | side | status   | reason    |
      | 2024-03-05 09:45 | buy  | filled   |           |
      | 2024-03-05 10:00 | sell | rejected | T1_LOCKED |
      | 2024-03-05 10:15 | sell | rejected | T1_LOCKED |
      | 2024-03-06 09:45 | sell | filled   | STOP_LOSS |
    And the fills are:
      | ts               | side | qty  | price | commission | stamp_duty | transfer_fee |
      | 2024-03-05 09:45 | buy  | 1000 | 10.00 | 5.00       | 0.00       | 0.10         |
      | 2024-03-06 09:45 | sell | 1000 | 9.30  | 5.00       | 4.65       | 0.09         |
    And the final cash is 99285.16

  Scenario: A stop-loss whose exit bar is locked at limit-down exits the next session
    Given the stock "000001.SZ" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 | 10.00 | 10.10 | 9.90  | 10.00 |
      | 2024-03-05 | 9.50  | 9.60  | 9.10  | 9.20  |
      | 2024-03-06 | 8.28  | 8.28  | 8.28  | 8.28  |
      | 2024-03-07 | 8.00  | 8.30  | 7.90  | 8.10  |
    And target shares:
      | ts         | shares |
      | 2024-03-01 | 1000   |
    When the a-share backtest runs with 100000 CNY and exit rule stop_loss 0.08
    Then the orders are:
      | ts         | side | status   | reason            |
      | 2024-03-04 | buy  | filled   |                   |
      | 2024-03-06 | sell | rejected | LIMIT_DOWN_LOCKED |
      | 2024-03-07 | sell | filled   | STOP_LOSS         |
    And the final cash is 97985.82

  Scenario: A take-profit sells at the next open after a bar's high reaches it
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 | 10.00 | 10.50 | 9.90  | 10.40 |
      | 2024-03-05 | 10.50 | 11.10 | 10.40 | 11.00 |
      | 2024-03-06 | 11.20 | 11.30 | 11.00 | 11.10 |
      | 2024-03-07 | 11.00 | 11.20 | 10.90 | 11.10 |
    And target shares:
      | ts         | shares |
      | 2024-03-01 | 1000   |
    When the a-share backtest runs with 100000 CNY and exit rule take_profit 0.10
    Then the orders are:
      | ts         | side | status | reason      |
      | 2024-03-04 | buy  | filled |             |
      | 2024-03-06 | sell | filled | TAKE_PROFIT |
    And the final cash is 101184.19

  Scenario: A trailing stop follows the highest high since the entry
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 | 10.00 | 10.20 | 9.80  | 10.10 |
      | 2024-03-05 | 10.30 | 10.80 | 10.20 | 10.70 |
      | 2024-03-06 | 10.60 | 10.70 | 10.20 | 10.30 |
      | 2024-03-07 | 10.24 | 10.40 | 10.10 | 10.30 |
    And target shares:
      | ts         | shares |
      | 2024-03-01 | 1000   |
    When the a-share backtest runs with 100000 CNY and exit rule trailing_stop 0.05
    Then the orders are:
      | ts         | side | status | reason        |
      | 2024-03-04 | buy  | filled |               |
      | 2024-03-07 | sell | filled | TRAILING_STOP |
    And the final cash is 100224.68

  Scenario: After an exit the symbol stays flat until the strategy's target changes
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 | 10.00 | 10.00 | 9.10  | 9.20  |
      | 2024-03-05 | 9.20  | 9.30  | 9.10  | 9.20  |
      | 2024-03-06 | 9.20  | 9.30  | 9.10  | 9.20  |
      | 2024-03-07 | 9.20  | 9.30  | 9.10  | 9.20  |
      | 2024-03-08 | 9.20  | 9.30  | 9.10  | 9.20  |
    And target shares:
      | ts         | shares |
      | 2024-03-01 | 1000   |
      | 2024-03-06 | 0      |
      | 2024-03-07 | 500    |
    When the a-share backtest runs with 100000 CNY and exit rule stop_loss 0.08
    Then the orders are:
      | ts         | side | status | reason    |
      | 2024-03-04 | buy  | filled |           |
      | 2024-03-05 | sell | filled | STOP_LOSS |
      | 2024-03-08 | buy  | filled |           |

  Scenario: A target change while a stop exit is blocked cancels it, and the stop is judged again
    Given the stock "000001.SZ" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 | 10.00 | 10.10 | 9.90  | 10.00 |
      | 2024-03-05 | 9.50  | 9.60  | 9.10  | 9.20  |
      | 2024-03-06 | 8.28  | 8.28  | 8.28  | 8.28  |
      | 2024-03-07 | 8.00  | 8.30  | 7.90  | 8.10  |
      | 2024-03-08 | 8.10  | 8.20  | 8.00  | 8.10  |
    And target shares:
      | ts         | shares |
      | 2024-03-01 | 1000   |
      | 2024-03-06 | 500    |
    When the a-share backtest runs with 100000 CNY and exit rule stop_loss 0.08
    Then the orders are:
      | ts         | side | status   | reason            |
      | 2024-03-04 | buy  | filled   |                   |
      | 2024-03-06 | sell | rejected | LIMIT_DOWN_LOCKED |
      | 2024-03-07 | sell | filled   |                   |
      | 2024-03-08 | sell | filled   | STOP_LOSS         |
