Feature: The confined runner stops every attack
  User code (and every template) runs only in a separate, confined process. Each attack is stopped
  with a clear error; neither the calling worker nor any other process outside the sandbox is harmed.

  Scenario Outline: An attack is stopped with a clear error
    Given the attack "<attack>" as strategy code
    When it runs in the confined runner
    Then it is stopped as "<kind>"
    And no file was written, no connection was made and no secret leaked
    And a process outside the sandbox, started before the attack, is still alive

    Examples:
      | attack                        | kind      |
      | import os                     | forbidden |
      | open /etc/passwd              | forbidden |
      | __import__ socket             | forbidden |
      | subclasses walk               | forbidden |
      | generator frame               | forbidden |
      | getattr frame walk            | forbidden |
      | switch the audit hook off     | forbidden |
      | infinite loop                 | timeout   |
      | allocate 10 GB                | memory    |
      | fork bomb                     | forbidden |
      | write /tmp                    | forbidden |
      | read environment              | error     |
      | read the worker's environment | forbidden |
      | kill the worker               | forbidden |
      | kill another process          | forbidden |
      | os.kill SIGTERM               | forbidden |
      | rt_sigqueueinfo               | forbidden |
      | rt_tgsigqueueinfo             | forbidden |
      | tgkill                        | forbidden |
      | tkill                         | forbidden |
      | pidfd_send_signal             | forbidden |
      | SIGIO owner                   | forbidden |

  Scenario Outline: The kernel layers alone stop an attack
    Given the attack "<attack>" as strategy code
    When it runs in the confined runner without the Python guards
    Then it is stopped as "forbidden"
    And no file was written, no connection was made and no secret leaked

    Examples:
      | attack                        |
      | open /etc/passwd              |
      | __import__ socket             |
      | generator frame               |
      | getattr frame walk            |
      | switch the audit hook off     |
      | fork bomb                     |
      | write /tmp                    |
      | read the worker's environment |
      | kill the worker               |
      | kill another process          |

  Scenario Outline: The seccomp filter alone keeps every signal inside the sandbox
    Given the attack "<attack>" as strategy code
    When it runs in the confined runner without the Python guards and without Landlock
    Then it is stopped as "forbidden"
    And the process it aimed at is still alive

    Examples:
      | attack            |
      | os.kill SIGTERM   |
      | rt_sigqueueinfo   |
      | rt_tgsigqueueinfo |
      | tgkill            |
      | tkill             |
      | pidfd_send_signal |
      | SIGIO owner       |
      | FIOSETOWN owner   |

  Scenario Outline: Templates run through the same runner
    Given the template "<template>"
    When it runs in the confined runner
    Then it returns target weights for the sample bars

    Examples:
      | template          |
      | ma_cross          |
      | momentum_rotation |

  Scenario Outline: An attack through handle_bar is stopped with a clear error
    Given the attack "<attack>" inside an event-driven strategy's handle_bar
    When it runs in the confined runner
    Then it is stopped as "<kind>"
    And no file was written, no connection was made and no secret leaked
    And a process outside the sandbox, started before the attack, is still alive

    Examples:
      | attack                        | kind      |
      | import os                     | forbidden |
      | open /etc/passwd              | forbidden |
      | __import__ socket             | forbidden |
      | subclasses walk               | forbidden |
      | generator frame               | forbidden |
      | getattr frame walk            | forbidden |
      | switch the audit hook off     | forbidden |
      | infinite loop                 | timeout   |
      | allocate 10 GB                | memory    |
      | fork bomb                     | forbidden |
      | write /tmp                    | forbidden |
      | read environment              | error     |
      | read the worker's environment | forbidden |
      | kill the worker               | forbidden |
      | kill another process          | forbidden |

  Scenario Outline: The kernel layers alone stop an attack through handle_bar
    Given the attack "<attack>" inside an event-driven strategy's handle_bar
    When it runs in the confined runner without the Python guards
    Then it is stopped as "forbidden"
    And no file was written, no connection was made and no secret leaked

    Examples:
      | attack                        |
      | open /etc/passwd              |
      | __import__ socket             |
      | generator frame               |
      | fork bomb                     |
      | write /tmp                    |
      | kill the worker               |
      | kill another process          |

  Scenario Outline: Event-driven templates step the simulator inside the runner
    Given the template "<template>"
    When it runs in the confined runner
    Then it returns its order stream for the sample bars

    Examples:
      | template       |
      | ma_cross_event |
      | ma_cross_port  |
