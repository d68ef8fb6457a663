Feature: The CLI against a deployed server
  With `HUICE_API_URL` or `huice --api URL` every user command calls that server's REST API over HTTP(S):
  the machine running the CLI needs no database, keeps one login per server URL, and gets the server's
  errors as the same envelope and exit codes. Operator commands stay on the server host.

  Background:
    Given a huice server on its own database

  Scenario: A laptop logs in to a server and keeps one session per server URL
    When the laptop runs "auth register --email laptop@example.com --password Correct-Horse-9 --json"
    And the laptop runs "auth login --email laptop@example.com --password Correct-Horse-9 --json"
    Then the command succeeds
    And the laptop holds one session file for the server's URL, mode 0600, and no local session
    When the laptop runs "auth whoami --json"
    Then the command succeeds with "email" "laptop@example.com"
    When the laptop runs "strategy templates --json"
    Then the command succeeds listing the template "ma_cross"

  Scenario: The server's errors come back as the envelope and exit code
    When the laptop runs "auth whoami --json"
    Then the command exits 4 with the error code "UNAUTHORIZED" and message "not logged in: run `huice auth login` or set HUICE_API_KEY"
    When the laptop runs "auth register --email laptop2@example.com --password short --json"
    Then the command exits 2 with the error code "INVALID_INPUT" and message "password must have at least 10 characters"

  Scenario: An operator command is refused over the API instead of opening a local database
    When the laptop runs "db current --json"
    Then the command exits 2 with the error code "INVALID_INPUT" and message "this command runs on the server host only (it opens the database); run it there without HUICE_API_URL / --api"

  Scenario: An unreachable server is an upstream error, not a traceback
    When the laptop runs "auth whoami --json" against a server that is not listening
    Then the command exits 7 with the error code "UPSTREAM_ERROR"
