@gateway @fresh-instance
Feature: Fallbacks
  Streaming falls back to a buffered reply when the upstream cannot stream; a request moves
  to the next provider in the chain when the first is exhausted or its breaker is open.

  @GW-FALLBACK-001 @feature-streaming
  Scenario: A provider declared unable to stream is asked for a buffered reply
    Given provider "primary" speaks the openai wire format
    And provider "primary" cannot stream and answers "Buffered hello"
    When a client streams a chat completion
    Then the client received the text "Buffered hello" and the end of the stream
    And every request provider "primary" received asked for a buffered reply
    And the metric "llm_fallback_triggered_total" with type "streaming_to_buffered" is 1

  @GW-FALLBACK-002 @GW-OBS-005 @feature-streaming
  Scenario: A provider that refuses to stream triggers a buffered retry
    Given provider "primary" speaks the openai wire format
    And provider "primary" refuses streaming with "Cannot use tools with stream" and answers "Buffered hello"
    When a client streams a chat completion
    Then the client received the text "Buffered hello" and the end of the stream
    And the metric "llm_fallback_triggered_total" with type "streaming_to_buffered" is 1

  @GW-FALLBACK-003 @GW-OBS-005
  Scenario Outline: An exhausted <first> provider hands over to the next in the chain
    Given provider "primary" speaks the <first> wire format
    And provider "secondary" speaks the <second> wire format
    And provider "primary" always answers 503 with header "retry-after-ms: 1"
    And provider "secondary" streams "From the fallback"
    When a client sends a chat completion request
    Then the response status is 200
    And the completion text is "From the fallback"
    And provider "primary" received 6 requests
    And the metric "llm_fallback_triggered_total" with type "provider_switch" is 1

    Examples:
      | first     | second    |
      | openai    | openai    |

    @feature-anthropic_upstream
    Examples:
      | first     | second    |
      | openai    | anthropic |

    @feature-anthropic_upstream @feature-gemini_upstream
    Examples:
      | first     | second    |
      | anthropic | gemini    |

    @feature-gemini_upstream
    Examples:
      | first     | second    |
      | gemini    | openai    |

  @GW-FALLBACK-004 @GW-BREAKER-009
  Scenario: An open breaker sends requests straight to the next provider
    Given provider "primary" speaks the openai wire format
    And provider "secondary" speaks the openai wire format
    And provider "primary" always answers 503 with header "retry-after-ms: 1"
    And provider "secondary" streams "From the fallback"
    When a client sends 5 chat completion requests one after another
    And a client sends a chat completion request
    Then the completion text is "From the fallback"
    And provider "primary" received 30 requests

  @GW-FALLBACK-006
  Scenario: When every provider fails, the error follows the last failure
    Given provider "primary" speaks the openai wire format
    And provider "secondary" speaks the openai wire format
    And provider "primary" always answers 503 with header "retry-after-ms: 1"
    And provider "secondary" always answers 429 with header "retry-after-ms: 1"
    When a client sends a chat completion request
    Then the response is an error envelope with code "RATE_LIMITED"
    And provider "secondary" received 6 requests

  @GW-STREAM-006 @feature-streaming @feature-provider_fallback
  Scenario: A stream cut after its first byte is not sent to the next provider
    Given provider "primary" speaks the openai wire format
    And provider "secondary" speaks the openai wire format
    And provider "primary" streams "Hello brave new world" in 4 chunks, then cuts the connection after 2
    And provider "secondary" streams "From the fallback"
    When a client streams a chat completion
    Then provider "secondary" received 0 requests
    And the stream ended with an error event with code "STREAM_INTERRUPTED"

  @GW-FALLBACK-005
  Scenario: A client error from the first provider is not passed to the next
    Given provider "primary" speaks the openai wire format
    And provider "secondary" speaks the openai wire format
    And provider "primary" always answers 404
    And provider "secondary" streams "Should not be used"
    When a client sends a chat completion request
    Then the response is an error envelope with code "NOT_FOUND"
    And provider "secondary" received 0 requests
