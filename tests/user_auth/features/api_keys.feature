Feature: API keys for scripts and the CLI
  A key is shown once, stored hashed, listed by prefix, accepted as a Bearer credential and revocable.

  Background:
    Given a registered user "k@example.com" with password "Correct-Horse-9"
    And "k@example.com" is logged in as "main"

  Scenario: Creating a key and using it
    When session "main" creates an API key named "backtest-bot"
    Then the created key starts with its listed prefix
    And listing keys with session "main" shows the prefix and no secret
    And with the created key GET "/api/auth/me" shows "k@example.com"
    And the key's last use is recorded

  Scenario: A revoked key stops working
    Given session "main" created an API key named "old-bot"
    When session "main" revokes the created key
    Then the response status is 200
    And the created key is refused

  Scenario: An expired key stops working
    Given session "main" created an API key named "short" expiring in 1 days
    When 2 days have passed
    Then the created key is refused

  Scenario: A wrong secret with a valid prefix is refused
    Given session "main" created an API key named "bot"
    Then a key with the same prefix and a different secret is refused

  Scenario: Nobody can revoke someone else's key
    Given session "main" created an API key named "mine"
    And a registered user "thief@example.com" with password "Correct-Horse-9"
    And "thief@example.com" is logged in as "thief"
    When session "thief" revokes the created key
    Then the error is 404 "NOT_FOUND" with message "no such API key"
