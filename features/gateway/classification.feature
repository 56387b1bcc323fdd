@gateway
Feature: Classifying upstream failures
  The gateway retries what may succeed on a second try and never what cannot: transient
  statuses and broken connections are retried, client errors are not, and a provider's
  x-should-retry header overrides the status either way.

  @GW-RETRY-001
  Scenario Outline: A transient status from a <kind> provider is retried until it succeeds
    Given provider "primary" speaks the <kind> wire format
    And provider "primary" answers <status> 2 times, then streams "Hello world"
    When a client sends a chat completion request
    Then the completion text is "Hello world"
    And provider "primary" received 3 requests

    Examples:
      | kind      | status |
      | openai    | 429    |
      | openai    | 500    |
      | openai    | 502    |
      | openai    | 503    |
      | openai    | 504    |
      | openai    | 408    |
      | openai    | 409    |

    @feature-anthropic_upstream
    Examples:
      | kind      | status |
      | anthropic | 529    |
      | anthropic | 503    |

    @feature-gemini_upstream
    Examples:
      | kind      | status |
      | gemini    | 503    |
      | gemini    | 429    |

  @GW-RETRY-002 @GW-VOC-005 @GW-VOC-006
  Scenario Outline: A <status> from a <kind> provider is never retried
    Given provider "primary" speaks the <kind> wire format
    And provider "primary" always answers <status>
    When a client sends a chat completion request
    Then the response is an error envelope with code "<code>"
    And provider "primary" received 1 request

    Examples:
      | kind      | status | code             |
      | openai    | 400    | VALIDATION_ERROR |
      | openai    | 401    | BAD_GATEWAY      |
      | openai    | 403    | BAD_GATEWAY      |
      | openai    | 404    | NOT_FOUND        |
      | openai    | 413    | PAYLOAD_TOO_LARGE |
      | openai    | 422    | VALIDATION_ERROR |

    @feature-anthropic_upstream
    Examples:
      | kind      | status | code             |
      | anthropic | 401    | BAD_GATEWAY      |
      | anthropic | 404    | NOT_FOUND        |

    @feature-gemini_upstream
    Examples:
      | kind      | status | code             |
      | gemini    | 400    | VALIDATION_ERROR |

  @GW-RETRY-003 @fresh-instance
  Scenario: x-should-retry false stops retries of a transient status
    Given provider "primary" speaks the openai wire format
    And provider "primary" always answers 503 with header "x-should-retry: false"
    When a client sends a chat completion request
    Then the response is an error envelope with code "SERVICE_UNAVAILABLE"
    And provider "primary" received 1 request

  @GW-RETRY-003
  Scenario: x-should-retry true makes a client error worth another attempt
    Given provider "primary" speaks the openai wire format
    And provider "primary" answers 400 with header "x-should-retry: true" 1 time, then streams "Hello"
    When a client sends a chat completion request
    Then the response status is 200
    And provider "primary" received 2 requests

  @GW-RETRY-011
  Scenario: A connection reset before the response is retried
    Given provider "primary" speaks the openai wire format
    And provider "primary" resets the connection before answering 2 times, then streams "Hello"
    When a client sends a chat completion request
    Then the completion text is "Hello"
    And provider "primary" received 3 requests
