Feature: A run's interactive report, and read-only share links
  A succeeded run has a self-contained HTML report (artifact type `report`, format `html`). Its owner can
  share it read-only: a link with an unguessable token (only its hash is stored), a required expiry, what it
  includes, a visit count; revoked, expired and unknown links are the same 404. A shared page or its data
  never carries the strategy source, raw market bars, other runs or the owner's email.

  Background:
    Given the sample data
    And a signed-in user
    And a backtest of the template "ma_cross" on three sample symbols
    And a succeeded run with fast 5 and slow 20

  Scenario: The report of a run downloads as one self-contained HTML file
    When the user downloads the run's report as html
    Then the answer is 200 text/html naming the strategy and the disclaimer 研究用途，不构成投资建议
    And the page loads no script, style, font or image from any URL
    And the report as csv is 422 INVALID_INPUT naming "format"

  Scenario: Share a run and open it without login
    When the user shares the run for "7d" with trades and without positions
    Then the answer is 201 with a link, its token and an expiry 7 days ahead
    And the link's page opens without login as the run's report
    And the link's data opens without login with the metrics, curves and trades but no positions
    And the user's shares list the link as active with 2 visits and without its token
    And the user's usage counts 1 share link this month

  Scenario: A revoked, an expired and an unknown link answer the same 404
    When the user shares the run for "1d" with trades and without positions
    And the user revokes the link
    Then the link's page and data answer 404 NOT_FOUND "shared link not found"
    And the user's shares list the link as revoked
    When the user shares the run for "1d" with trades and without positions
    And the link has expired
    Then the link's page and data answer 404 NOT_FOUND "shared link not found"
    And an unknown token's page and data answer 404 NOT_FOUND "shared link not found"

  Scenario: Shared pages and data never contain the strategy source
    Given a succeeded run of a strategy whose source carries a unique comment
    When the user shares that run for "7d" with trades and positions
    Then neither the link's page, nor its data, nor the user's shares contain the comment or the user's email
    And the link's data has no raw bars and no other run

  Scenario: Another user's run cannot be shared and their links cannot be seen or revoked
    Given another signed-in user
    When the user shares the run for "7d" with trades and without positions
    Then the other user sharing the run answers 404 NOT_FOUND
    And the other user's list of shares is empty
    And the other user revoking the link answers 404 NOT_FOUND

  Scenario: A share link needs a valid expiry within the maximum
    Then sharing the run with each expiry is refused with 422 INVALID_INPUT naming "expires_in":
      | expires_in |
      | 0d         |
      | 31d        |
      | a week     |
      | 7y         |
    And sharing the run without an expiry is refused with 422 INVALID_INPUT

  Scenario: Views of a link are rate-limited per link
    Given views are limited to 3 a minute per link
    When the user shares the run for "1d" with trades and without positions
    Then the first 3 views of the link answer 200 and the 4th 429 RATE_LIMITED with Retry-After

  Scenario: Views from one client address are rate-limited across links
    Given views are limited to 4 a minute per client address
    When the user shares the run for "1d" with trades and without positions
    And the user shares the run again for "1d" with trades and without positions
    Then 2 views of each link answer 200 and the next view of either 429 RATE_LIMITED with Retry-After

  Scenario: Report, share, list and unshare from the terminal
    Given a signed-in user of the CLI
    When the user runs "backtest report {run} --out {dir}/report.html --json"
    Then the command exits 0 and the file report.html is the run's report
    When the user runs "backtest share {run} --expires 1d"
    Then the command exits 0 and prints a link that opens without login
    When the user runs "backtest shares --json"
    Then the command exits 0 and lists the link as active
    When the user runs "backtest unshare {share} --json"
    Then the command exits 0 and the link answers 404
