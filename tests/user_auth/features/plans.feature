Feature: The plan catalogue, conversion interest and the research-use disclaimer
  `GET /api/plans` is public: Free and Pro with their monthly quotas, rate limits and features, and the
  bilingual research-use disclaimer. A user's "subscribe" click is recorded once per plan. The disclaimer
  is accepted once per account (the first timestamp stays).

  Scenario: The public plan catalogue lists quotas, limits and the disclaimer
    When a visitor reads the plan catalogue
    Then the response status is 200
    And the catalogue lists the plans "free" and "pro" with quotas "runs", "sweep_evaluations", "artifact_bytes", "share_links", "concurrent_jobs"
    And the catalogue carries the disclaimer "研究用途，不构成投资建议" and "Research use only, not investment advice"

  Scenario: Interest in a plan is counted once per user
    Given a signed-in free user
    When the user shows interest in the "pro" plan
    Then the interest is recorded with 1 interested user
    When the user shows interest in the "pro" plan
    Then the interest is not recorded again and 1 user is interested

  Scenario: The disclaimer is accepted once per account
    Given a signed-in free user
    When the user reads their disclaimer status
    Then the disclaimer is not accepted
    When the user accepts the disclaimer
    Then the disclaimer is accepted with a timestamp
    When the user accepts the disclaimer again
    Then the acceptance keeps the first timestamp
    And the usage report shows the acceptance
