Feature: Roles, plans and administration
  Admins search users, disable/enable them and change role and plan; everyone else gets FORBIDDEN.
  Every change lands in the append-only audit log that admins query.

  Background:
    Given an admin "boss@example.com" is logged in as "admin"
    And a registered user "u@example.com" with password "Correct-Horse-9"
    And "u@example.com" is logged in as "user"

  Scenario Outline: Non-admins are forbidden from admin endpoints
    When session "user" calls <method> "<path>"
    Then the error is 403 "FORBIDDEN" with message "administrators only"

    Examples:
      | method | path |
      | GET    | /api/admin/users |
      | GET    | /api/admin/audit |
      | PATCH  | /api/admin/users/00000000-0000-7000-8000-000000000000 |

  Scenario: An admin searches users
    When session "admin" searches users for "u@ex"
    Then the user list is exactly "u@example.com"

  Scenario: An admin changes role and plan
    When session "admin" sets "u@example.com" to role "admin" and plan "pro"
    Then the response status is 200
    And the account "u@example.com" has role "admin" and plan "pro"
    And the audit log has a "user.role_changed" success for "u@example.com"
    And the audit log has a "user.plan_changed" success for "u@example.com"

  Scenario: A disabled user is locked out and their keys are revoked for good
    Given session "user" created an API key named "bot"
    When session "admin" sets "u@example.com" to status "disabled"
    Then the access token of session "user" is refused
    And the created key is refused
    And "u@example.com" cannot log in with password "Correct-Horse-9"
    And the audit log records the created key revoked by "boss@example.com" because "user_disabled"
    When session "admin" sets "u@example.com" to status "active"
    Then "u@example.com" can log in with password "Correct-Horse-9"
    And the created key is refused
    And the created key is listed as revoked for "u@example.com"

  Scenario: An admin cannot lock themselves out
    When session "admin" sets "boss@example.com" to status "disabled"
    Then the error is 422 "INVALID_INPUT" with details field "status"

  Scenario: The audit log shows logins, failures and key changes with client and request id
    Given "u@example.com" fails to log in with password "Wrong-Horse-99"
    And session "user" created an API key named "bot"
    When session "admin" queries the audit log for "u@example.com"
    Then the audit entries are, newest first, "api_key.created, login.failed, login.succeeded, register"
    And every audit entry has client address "testclient" and a request id

  Scenario: The audit log pages and filters
    Given "u@example.com" fails to log in with password "Wrong-Horse-99"
    And "u@example.com" fails to log in with password "Wrong-Horse-98"
    When session "admin" queries the audit log with action "login.failed" and outcome "failure" and limit 1
    Then the audit page has 1 item of 2 in total

  Scenario: The audit log is append-only
    Then changing or deleting an audit row is refused by the database
