Feature: The `huice auth` command line
  Everything a user does through the API they can do with `huice auth ... --json`. `huice auth login`
  keeps the session in the config dir (mode 0600) and refreshes it; every other command acts as that
  user, or as HUICE_API_KEY when it is set.

  Scenario: A new user registers, verifies, logs in and works with an API key
    Given "alice" has a new email address
    When "alice" runs "auth register --password Correct-Horse-9"
    Then the command succeeds with "email_verified" false
    When "alice" verifies with the token from "auth mailbox"
    Then the command succeeds with "status" "verified"
    When "alice" runs "auth login --password Correct-Horse-9"
    Then the session file of "alice" has mode 0600 and holds no password
    When "alice" runs "auth whoami"
    Then the command succeeds with "via" "cli"
    And the command output has "email_verified" true
    When "alice" runs "auth keys create laptop"
    Then the command succeeds with "name" "laptop"
    When "alice" runs "auth whoami" with HUICE_API_KEY set to the created key
    Then the command succeeds with "via" "api_key"
    When "alice" runs "auth keys list"
    Then the command lists the created key by prefix only
    When "alice" runs "auth refresh"
    Then the command succeeds
    When "alice" runs "auth logout"
    Then the command succeeds with "session_revoked" true
    When "alice" runs "auth whoami"
    Then the command fails with exit code 4 and message "not logged in: run `huice auth login` or set HUICE_API_KEY"

  Scenario: An expired access token is refreshed from the stored refresh token
    Given "bob" is logged in on the command line
    And the stored access token of "bob" has expired
    When "bob" runs "auth whoami"
    Then the command succeeds with "via" "cli"
    And the stored refresh token of "bob" was rotated

  Scenario: Resetting a forgotten password on the command line
    Given "carol" is logged in on the command line
    When "carol" runs "auth request-reset"
    Then the command succeeds with "status" "accepted"
    When "carol" resets the password to "Fresh-Horse-42" with the token from "auth mailbox"
    Then the command succeeds with "status" "reset"
    When "carol" runs "auth whoami"
    Then the command fails with exit code 4 and message "session expired or revoked: run `huice auth login`"
    When "carol" runs "auth login --password Fresh-Horse-42"
    Then the command succeeds

  Scenario: An operator bootstraps an admin who reviews the audit log and changes a plan
    Given "dave" is logged in on the command line
    And "dave" fails to log in once on the command line
    And "root" has a new email address
    When "root" runs "auth create-admin --password Admin-Horse-77"
    Then the command succeeds with "role" "admin"
    When "root" runs "auth login --password Admin-Horse-77"
    And "root" runs the audit for "dave"
    Then the audit actions are "login.failed, login.succeeded, register"
    When "root" sets the plan of "dave" to "pro" with auth admin set-plan
    Then the command succeeds with "plan" "pro"
    When "dave" runs "auth audit"
    Then the command fails with exit code 4 and message "administrators only"

  Scenario: Weak passwords and wrong credentials fail with the envelope and an exit code
    Given "erin" has a new email address
    When "erin" runs "auth register --password short"
    Then the command fails with exit code 2 and message "password must have at least 10 characters"
    When "erin" runs "auth login --password Wrong-Horse-99"
    Then the command fails with exit code 4 and message "invalid email or password"

  Scenario: Admin user management, key revocation and password change on the command line
    Given "frank" is logged in on the command line
    And "boss" is an admin logged in on the command line
    When "boss" searches users for "frank" on the command line
    Then the command lists exactly the account of "frank"
    When "boss" runs auth admin set-role for "frank" with "admin"
    Then the command succeeds with "role" "admin"
    When "boss" runs auth admin disable for "frank"
    Then the command succeeds with "status" "disabled"
    When "frank" runs "auth whoami"
    Then the command fails with exit code 4 and message "session expired or revoked: run `huice auth login`"
    When "boss" runs auth admin enable for "frank"
    Then the command succeeds with "status" "active"
    When "boss" runs "auth keys create ci"
    And "boss" runs auth keys revoke with the created key's prefix
    Then the command succeeds with "active" false
    When "boss" runs "auth change-password --current Correct-Horse-9 --new Fresh-Horse-42"
    Then the command succeeds with "status" "changed"
    When "boss" runs "auth whoami"
    Then the command succeeds with "via" "cli"
