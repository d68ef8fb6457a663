Feature: Monitoring is for administrators
  Every monitoring route refuses callers who are not administrators, and anonymous callers.

  Scenario Outline: A signed-in user who is not an admin is refused
    Given a signed-in user who is not an admin
    When they call <method> <path>
    Then the answer is 403 FORBIDDEN

    Examples:
      | method | path                       |
      | GET    | /api/monitor/summary       |
      | GET    | /api/monitor/alerts        |
      | POST   | /api/monitor/alerts/evaluate |
      | GET    | /api/monitor/schedules     |
      | GET    | /api/monitor/stream        |

  Scenario: An anonymous caller is refused
    When an anonymous caller calls GET /api/monitor/summary
    Then the answer is 401 UNAUTHORIZED

  Scenario: The CLI refuses a user who is not an admin
    Given a signed-in user who is not an admin
    When they run "huice monitor summary"
    Then the CLI exits with the FORBIDDEN envelope

  Scenario: The WebSocket refuses a user who is not an admin, and an anonymous caller
    Given a signed-in user who is not an admin
    When they open the summary WebSocket
    Then the socket is closed with the code 4403
    When an anonymous caller opens the summary WebSocket
    Then the socket is closed with the code 4401
