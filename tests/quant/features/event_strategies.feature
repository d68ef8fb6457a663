Feature: Event-driven strategies
  A strategy written as initialize(context) / handle_bar(context, bar) (JoinQuant: handle_data) sees its
  portfolio, places orders and learns their fate on its next decision. The orders execute on the
  vectorised simulator's rules: the next bar's open, lots, T+1, price limits and fees by date.

  Scenario: closeable_amount after a buy follows T+1
    Given the stock "600000.SH" with bars:
      | ts               | open  | high  | low   | close |
      | 2024-03-01 09:45 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-01 10:00 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-01 10:15 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 09:45 | 10.00 | 10.00 | 10.00 | 10.00 |
    And the event-driven strategy:
      """
      from quant.sdk import log, order_shares

      def initialize(context):
          context.bought = False

      def handle_bar(context, bar):
          if not context.bought:
              order_shares("600000.SH", 1000)
              context.bought = True
          p = context.portfolio.positions["600000.SH"]
          log(f"{context.current_dt:%Y-%m-%d %H:%M} {p.quantity:g} {p.closeable_amount:g} {p.avg_cost:.4f}")
      """
    When the event-driven strategy runs with 100000 CNY
    Then the strategy logged:
      | line                             |
      | 2024-03-01 09:45 0 0 0.0000      |
      | 2024-03-01 10:00 1000 0 10.0051  |
      | 2024-03-01 10:15 1000 0 10.0051  |
      | 2024-03-04 09:45 1000 1000 10.0051 |
    And the fills are:
      | ts               | side | qty  | price | commission | stamp_duty | transfer_fee |
      | 2024-03-01 10:00 | buy  | 1000 | 10.00 | 5.00       | 0.00       | 0.10         |
    And the final cash is 89994.90

  Scenario: A limit order is not filled on a bar that never reaches its price
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.20 | 9.90  | 10.10 |
      | 2024-03-04 | 10.30 | 10.50 | 10.20 | 10.40 |
      | 2024-03-05 | 10.00 | 10.20 | 9.90  | 10.00 |
    And the event-driven strategy:
      """
      from quant.sdk import log, order_shares

      def handle_bar(context, bar):
          day = f"{context.current_dt:%Y-%m-%d}"
          for order in context.orders:
              log(f"{day} order {order.id} {order.status} {order.reason} {order.filled:g} {order.price:.2f}")
          if day == "2024-03-01":
              order_shares("600000.SH", 1000, 10.15)
          if day == "2024-03-04":
              order_shares("600000.SH", 1000, 9.95)
      """
    When the event-driven strategy runs with 100000 CNY
    Then the strategy logged:
      | line                                                  |
      | 2024-03-04 order 1 rejected LIMIT_PRICE_NOT_REACHED 0 0.00 |
      | 2024-03-05 order 2 filled None 1000 9.95              |
    And the rejected orders are:
      | ts         | side | reason                  |
      | 2024-03-04 | buy  | LIMIT_PRICE_NOT_REACHED |
    And the fills are:
      | ts         | side | qty  | price | commission | stamp_duty | transfer_fee |
      | 2024-03-05 | buy  | 1000 | 9.95  | 5.00       | 0.00       | 0.10         |
    And the final cash is 90044.90

  Scenario: A stop-loss triggered in the session of the buy exits only when the shares are sellable
    Given the stock "600000.SH" with bars:
      | ts               | open  | high  | low   | close |
      | 2024-03-01 09:45 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-01 10:00 | 10.00 | 10.00 | 9.10  | 9.10  |
      | 2024-03-01 10:15 | 9.10  | 9.20  | 9.00  | 9.10  |
      | 2024-03-04 09:45 | 9.00  | 9.10  | 8.90  | 9.00  |
    And the event-driven strategy:
      """
      from quant.sdk import get_open_orders, log, order_target_shares

      def handle_bar(context, bar):
          p = context.portfolio.positions["600000.SH"]
          if p.quantity == 0 and not context.portfolio.positions and not get_open_orders():
              if f"{context.current_dt:%H:%M}" == "09:45" and context.current_dt.day == 1:
                  order_target_shares("600000.SH", 1000)
          elif p.quantity > 0 and p.price <= p.avg_cost * 0.92 and not get_open_orders():
              log(f"{context.current_dt:%Y-%m-%d %H:%M} stop at {p.price:.2f}, sellable {p.closeable_amount:g}")
              order_target_shares("600000.SH", 0)
      """
    When the event-driven strategy runs with 100000 CNY
    Then the strategy logged:
      | line                                         |
      | 2024-03-01 10:00 stop at 9.10, sellable 0    |
    And the rejected orders are:
      | ts               | side | reason    |
      | 2024-03-01 10:15 | sell | T1_LOCKED |
    And the fills are:
      | ts               | side | qty  | price | commission | stamp_duty | transfer_fee |
      | 2024-03-01 10:00 | buy  | 1000 | 10.00 | 5.00       | 0.00       | 0.10         |
      | 2024-03-04 09:45 | sell | 1000 | 9.00  | 5.00       | 4.50       | 0.09         |
    And the final cash is 98985.31

  Scenario: A stop-loss blocked by a limit-down board exits the next session
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-05 | 10.00 | 10.00 | 9.00  | 9.00  |
      | 2024-03-06 | 8.10  | 8.10  | 8.10  | 8.10  |
      | 2024-03-07 | 8.50  | 8.60  | 8.40  | 8.50  |
    And the event-driven strategy:
      """
      from quant.sdk import log, order_target, order_target_shares

      def handle_bar(context, bar):
          p = context.portfolio.positions["600000.SH"]
          if f"{context.current_dt:%Y-%m-%d}" == "2024-03-01":
              order_target_shares("600000.SH", 1000)
          for order in context.orders:
              log(f"{context.current_dt:%Y-%m-%d} {order.side} {order.status} {order.reason}")
          if p.closeable_amount > 0 and p.price <= p.avg_cost * (1 - 0.08) and not context.get_open_orders():
              log(f"{context.current_dt:%Y-%m-%d} stop-loss at {p.price:.2f}")
              order_target("600000.SH", 0)
      """
    When the event-driven strategy runs with 100000 CNY
    Then the strategy logged:
      | line                                     |
      | 2024-03-04 buy filled None               |
      | 2024-03-05 stop-loss at 9.00             |
      | 2024-03-06 sell open LIMIT_DOWN_LOCKED   |
      | 2024-03-07 sell filled None              |
    And the rejected orders are:
      | ts         | side | reason            |
      | 2024-03-06 | sell | LIMIT_DOWN_LOCKED |
    And the fills are:
      | ts         | side | qty  | price | commission | stamp_duty | transfer_fee |
      | 2024-03-04 | buy  | 1000 | 10.00 | 5.00       | 0.00       | 0.10         |
      | 2024-03-07 | sell | 1000 | 8.50  | 5.00       | 4.25       | 0.09         |
    And the final cash is 98485.56

  Scenario: The scheduler rebalances on the first session of each month
    Given flat daily bars of "600000.SH" at 10.00 from 2024-02-01 to 2024-03-05
    And the event-driven strategy:
      """
      from quant.sdk import log, order_target_percent, run_monthly

      def initialize(context):
          context.target = 0.5
          run_monthly(rebalance, 1)

      def rebalance(context):
          log(f"rebalance {context.current_dt:%Y-%m-%d} to {context.target}")
          order_target_percent("600000.SH", context.target)
          context.target = 0.2

      def handle_bar(context, bar):
          pass
      """
    When the event-driven strategy runs with 100000 CNY
    Then the strategy logged:
      | line                         |
      | rebalance 2024-02-01 to 0.5  |
      | rebalance 2024-03-01 to 0.2  |
    And the fills are:
      | ts         | side | qty  | price | commission | stamp_duty | transfer_fee |
      | 2024-02-01 | buy  | 4900 | 10.00 | 12.25      | 0.00       | 0.49         |
      | 2024-03-01 | sell | 2900 | 10.00 | 7.25       | 14.50      | 0.29         |
    And the final cash is 79965.22

  Scenario Outline: The event-driven port of ma_cross is bit-identical to its vectorised twin
    Given the sample universe of <symbols> symbols over 600 sessions
    When "ma_cross" and "ma_cross_port" run with fast 5 and slow 20 on the "<preset>" preset
    Then their orders, fills, round trips, positions, equity and metrics are identical

    Examples:
      | symbols | preset  |
      | 1       | a-share |
      | 5       | a-share |
      | 5       | plain   |

  Scenario Outline: The event-driven port of ma_cross with exit rules is bit-identical to its vectorised twin
    Given the sample universe of 3 symbols over 600 sessions
    When "ma_cross" and "ma_cross_port" run with fast 5 and slow 20 on the "<preset>" preset with the exit rules <rules>
    Then their orders, fills, round trips, positions, equity and metrics are identical
    And some of their sells carry the reason <reason>

    Examples:
      | preset  | rules                  | reason        |
      | a-share | {"stop_loss": 0.03}    | STOP_LOSS     |
      | a-share | {"take_profit": 0.05}  | TAKE_PROFIT   |
      | plain   | {"trailing_stop": 0.03} | TRAILING_STOP |

  Scenario: A strategy defining neither model or both is refused
    Given the strategy source "import math\nPARAMS = []\n"
    Then loading it fails with "strategy must define generate(bars, params) (vectorised) or initialize(context) and handle_bar(context, bar) (event-driven)"
    Given the strategy source "def generate(bars, params):\n    return bars\n\ndef handle_bar(context, bar):\n    pass\n"
    Then loading it fails with "strategy defines both models"

  Scenario: handle_bar raising fails the run with the user's message, line and bar
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 | 10.00 | 10.00 | 10.00 | 10.00 |
    And the event-driven strategy:
      """
      def handle_bar(context, bar):
          if context.current_dt.day == 4:
              raise ValueError("no data for my signal")
      """
    When the event-driven strategy runs with 100000 CNY expecting an error
    Then the error is "ValueError: no data for my signal (line 3 of the strategy: raise ValueError("no data for my signal")) (in handle_bar at bar 2024-03-04 15:00:00)"

  Scenario Outline: Bad orders are refused with the bar named
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 |
    And the event-driven strategy:
      """
      from quant.sdk import order_shares, order_target_percent, order_target_shares

      def handle_bar(context, bar):
          <call>
      """
    When the event-driven strategy runs with 100000 CNY expecting an error
    Then the error contains "bar 2024-03-01 15:00:00: <message>"

    Examples:
      | call                                            | message                                                                  |
      | order_shares("000002.SZ", 100)                  | order_shares('000002.SZ', 100): unknown symbol '000002.SZ'                |
      | order_target_shares("600000.SH", -100)          | order_target_shares('600000.SH', -100): a target cannot be negative      |
      | order_shares("600000.SH", -100)                 | order_shares('600000.SH', -100): selling more than the 0 shares held      |
      | order_target_percent("600000.SH", float("nan")) | order_target_percent('600000.SH', nan): the amount is nan                |
      | order_shares("600000.SH", 100, float("nan"))    | order_shares('600000.SH', 100): the price is nan                         |

  Scenario: Reading the future is refused
    Given the stock "600000.SH" with bars:
      | ts         | open  | high  | low   | close |
      | 2024-03-01 | 10.00 | 10.00 | 10.00 | 10.00 |
      | 2024-03-04 | 10.00 | 10.00 | 10.00 | 10.00 |
    And the event-driven strategy:
      """
      import datetime
      from quant.sdk import history

      def handle_bar(context, bar):
          history("600000.SH", 5, "close", end_dt=datetime.datetime(2024, 3, 4, 15))
      """
    When the event-driven strategy runs with 100000 CNY expecting an error
    Then the error contains "bar 2024-03-01 15:00:00: history('600000.SH', 5, 'close'): end_dt 2024-03-04 15:00:00 is after the current bar (reading the future is refused)"
