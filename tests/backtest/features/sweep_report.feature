Feature: A sweep's interactive report
  `GET /api/optimizations/{id}/report` (and `huice backtest optimization report ID --out sweep.html`) answers
  one self-contained HTML page: the parameter heatmap of two chosen parameters (default: the first two, the
  sweep's metric), the Top-N table, status, budget and stop reason, and the deflated Sharpe ratio and PBO of
  the sweep's diagnostics — the data of the sweep's `/heatmap`, `/results` and read, computed once.

  Background:
    Given the sample data
    And a signed-in user
    And a backtest of the template "ma_cross" on three sample symbols

  Scenario: The report of a sweep carries its heatmap, Top-N and diagnostics in one self-contained page
    When the user submits a grid sweep with fast "5,10,20,40" and slow "30,60,90"
    And the sweep's batches run
    And the user downloads the sweep's report
    Then the sweep report is 200 text/html with the disclaimer and loads nothing from any URL
    And the report's heatmap is the sweep's heatmap of sharpe with x "fast" and y "slow"
    And the report's Top-N table lists the first results in the order of the results
    And the report shows the sweep's status, deflated Sharpe ratio and PBO

  Scenario: The heatmap's parameters and metric are chosen in the query
    When the user submits a grid sweep with fast "5,10,20" and slow "30,60"
    And the sweep's batches run
    And the user downloads the sweep's report with x "slow", y "fast" and metric "total_return"
    Then the report's heatmap is the sweep's heatmap of total_return with x "slow" and y "fast"
    And the sweep's report with x "nope" is 422 INVALID_INPUT naming "x"

  Scenario: Another owner's sweep report is 404
    Given another signed-in user
    When the user submits a grid sweep with fast "5,10,20" and slow "30,60"
    And the sweep's batches run
    Then the other user's request for the sweep's report is 404 NOT_FOUND

  Scenario: The CLI writes the sweep's report to a file and shares it
    Given a signed-in user of the CLI
    When the user submits a grid sweep with fast "5,10,20" and slow "30,60"
    And the sweep's batches run
    And the user writes the sweep's report with the CLI to "sweep.html" with x "slow" and y "fast"
    Then the file is the sweep's report with the heatmap of sharpe with x "slow" and y "fast"
    And the link the CLI prints for "optimization share ID --expires 1d" opens the sweep's report without login

  Scenario: Share a sweep and open its report without login
    When the user submits a grid sweep with fast "5,10,20" and slow "30,60"
    And the sweep's batches run
    And the user shares the sweep for "1d"
    Then the answer is 201 with a sweep link, its token and an expiry 1 day ahead
    And the sweep link's page opens without login as the sweep's report, and its data answer is 404
    And the user's shares list the sweep link as active with 1 visit and without its token
    And once the user revokes the sweep link its page answers 404 NOT_FOUND "shared link not found"

  Scenario: A sweep link needs a valid expiry and another owner's sweep cannot be shared
    Given another signed-in user
    When the user submits a grid sweep with fast "5,10,20" and slow "30,60"
    And the sweep's batches run
    Then sharing the sweep without an expiry or for "31d" is 422 INVALID_INPUT naming "expires_in"
    And the other user sharing the sweep answers 404 NOT_FOUND and the user has no link
