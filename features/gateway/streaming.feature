@gateway @feature-streaming
Feature: Streaming: retry only before the first byte
  A gateway may retry only until the first byte reaches the client. After that an upstream
  failure ends the stream with a terminal error event carrying the code and what was
  delivered, and no token is ever sent twice.

  @GW-STREAM-001
  Scenario Outline: A <kind> failure before the first byte is retried invisibly
    Given provider "primary" speaks the <kind> wire format
    And provider "primary" answers 503 1 time, then streams "Hello brave new world"
    When a client streams a chat completion
    Then the client received the text "Hello brave new world" and the end of the stream
    And no error event reached the client

    Examples:
      | kind      |
      | openai    |

    @feature-anthropic_upstream
    Examples:
      | kind      |
      | anthropic |

    @feature-gemini_upstream
    Examples:
      | kind      |
      | gemini    |

  @GW-STREAM-002 @GW-STREAM-003 @GW-STREAM-005 @GW-STREAM-006 @GW-STREAM-007 @GW-ENV-003 @fresh-instance
  Scenario Outline: A <kind> stream cut after the first byte ends with a terminal error event
    Given provider "primary" speaks the <kind> wire format
    And provider "primary" streams "Hello brave new world" in 4 chunks, then cuts the connection after 2
    When a client streams a chat completion
    Then the text the client received is a prefix of what provider "primary" sent, nothing repeated
    And provider "primary" received 1 request
    And the stream ended with an error event with code "STREAM_INTERRUPTED"
    And the error event reports the text delivered before it
    And no stream event contains the request's content

    Examples:
      | kind      |
      | openai    |

    @feature-anthropic_upstream
    Examples:
      | kind      |
      | anthropic |

    @feature-gemini_upstream
    Examples:
      | kind      |
      | gemini    |

  @GW-STREAM-001
  Scenario: A stream that breaks before its first content is retried invisibly
    Given provider "primary" speaks the openai wire format
    And provider "primary" cuts the connection after its stream headers 1 time, then streams "Hello brave new world"
    When a client streams a chat completion
    Then the client received the text "Hello brave new world" and the end of the stream
    And no error event reached the client

  @GW-STREAM-007 @GW-STREAM-002 @fresh-instance
  Scenario Outline: A <kind> stream that ends without its end marker is an interruption
    Given provider "primary" speaks the <kind> wire format
    And provider "primary" streams "Hello brave new world" in 4 chunks, then ends the stream after 2 without its end marker
    When a client streams a chat completion
    Then the stream ended with an error event with code "STREAM_INTERRUPTED"
    And the error event reports the text delivered before it
    And provider "primary" received 1 request

    Examples:
      | kind      |
      | openai    |

    @feature-anthropic_upstream
    Examples:
      | kind      |
      | anthropic |

    @feature-gemini_upstream
    Examples:
      | kind      |
      | gemini    |

  @GW-STREAM-002 @fresh-instance
  Scenario: An Anthropic overloaded_error mid-stream ends the stream, not retried
    Given provider "primary" speaks the anthropic wire format
    And provider "primary" streams "Hello brave new world" in 4 chunks, then sends an overloaded error after 2
    When a client streams a chat completion
    Then the text the client received is a prefix of what provider "primary" sent, nothing repeated
    And the stream ended with an error event with code "STREAM_INTERRUPTED"
    And provider "primary" received 1 request

  @GW-STREAM-004 @GW-CLEANUP-001
  Scenario: A client that hangs up mid-stream gets the upstream connection closed
    Given provider "primary" speaks the openai wire format
    And provider "primary" streams "one two three four five six" in 6 chunks, then stalls after 3
    When a client streams a chat completion and hangs up after 2 events
    Then the connection from the gateway to provider "primary" is closed within the cleanup timeout

  @GW-STREAM-008 @fresh-instance
  Scenario: A stream whose retries run out before the first byte gets the HTTP error, not an event
    Given provider "primary" speaks the openai wire format
    And provider "primary" always answers 503 with header "retry-after-ms: 1"
    When a client streams a chat completion
    Then the stream was refused with an error envelope with code "SERVICE_UNAVAILABLE"
