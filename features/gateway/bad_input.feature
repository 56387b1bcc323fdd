@gateway
Feature: Bad input
  Malformed JSON, wrong types, oversize bodies and hostile strings get a clear 400 (413 for
  size) with field details, never a crash, and never reach a provider.

  Background:
    Given provider "primary" speaks the openai wire format
    And provider "primary" streams "Hello"

  @GW-INPUT-001
  Scenario: Malformed JSON is a validation error
    When a client sends the raw body "{\"model\": \"m\", \"messages\": [" as a chat completion
    Then the response is an error envelope with code "VALIDATION_ERROR"
    And the error details name the field "body"
    And provider "primary" received 0 requests

  @GW-INPUT-002
  Scenario Outline: A wrong type in <field> is named in the error details
    When a client sends a chat completion request with <field> set to <value>
    Then the response is an error envelope with code "VALIDATION_ERROR"
    And the error details name the field "<field>"
    And provider "primary" received 0 requests

    Examples:
      | field       | value            |
      | model       | 42               |
      | messages    | "hello"          |
      | messages    | []               |
      | stream      | "yes"            |
      | max_tokens  | -5               |
      | max_tokens  | true             |
      | temperature | 7.5              |
      | tools       | "all of them"    |

  @GW-INPUT-003
  Scenario Outline: A body one byte over the limit is rejected with 413, sent <how>
    When a client sends a chat completion request just over the body limit <how>
    Then the response is an error envelope with code "PAYLOAD_TOO_LARGE"
    And the error details name the configured body limit in max_bytes
    And provider "primary" received 0 requests

    Examples:
      | how                               |
      | with its Content-Length           |
      | in chunks without a Content-Length |

  @GW-INPUT-004 @GW-ENV-003
  Scenario Outline: A hostile model name is refused without echoing it
    When a client sends a chat completion request with model <value>
    Then the response is an error envelope with code "VALIDATION_ERROR"
    And the response does not contain <value>
    And provider "primary" received 0 requests
    And the gateway is still healthy

    Examples:
      | value                                  |
      | "../../etc/passwd"                      |
      | "m/../../etc/passwd"                    |
      | "m; rm -rf /"                           |
      | "m\u0000null"                           |
      | "$(curl evil)"                          |
      | "<script>alert(1)</script>"             |
      | "m\r\\nX-Injected: 1"                   |

  @GW-INPUT-005
  Scenario: Hostile strings in message content are carried, not executed, and nothing crashes
    When a client sends a chat completion request with the message "'; DROP TABLE users; -- \u202e $(reboot) \u0000 %s%s%n"
    Then the response status is 200
    And provider "primary" received the message unchanged
    And the gateway is still healthy

  @GW-INPUT-006
  Scenario: A thousand random bodies never crash the gateway
    When a client posts 1000 random bodies to /v1/chat/completions
    Then no response was 500 INTERNAL_ERROR
    And the gateway is still healthy
