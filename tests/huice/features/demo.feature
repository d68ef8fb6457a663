Feature: A demo account with results ready
  `huice demo seed` creates the demo user (its password printed once), three strategies from templates and
  a finished run of each on the sample data, through each context's services; seeding again changes
  nothing and prints no password; production mode refuses unless forced.

  Scenario: Seeding the demo account twice
    When the operator runs "huice demo seed" on the sample data
    Then the command prints the demo login with its password
    And the demo user has 3 strategies from templates, each with a succeeded run
    And the demo user has a finished sweep of 10 combinations with its best parameters
    And the demo user can log in with the printed password and see the runs
    When the operator runs "huice demo seed" on the sample data
    Then the command prints the demo login without a password
    And the second seed ran nothing and reports the same runs

  Scenario: Production mode refuses the demo unless forced
    When the demo is seeded in production mode without --force
    Then the seed is refused with "FORBIDDEN" naming "--force"
