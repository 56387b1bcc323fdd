@gateway
Feature: Gateway health and unknown routes
  The gateway answers its health route while it is up, and every route it does not
  know is reported in the error envelope rather than as a bare page.

  @GW-HEALTH-001
  Scenario: The health route answers while the gateway is up
    Given the gateway is running
    When a client calls the gateway's health route without a token
    Then the response status is 200

  @GW-ENV-002 @GW-ENV-001
  Scenario: An unknown route answers 404 NOT_FOUND in the error envelope
    Given the gateway is running
    When a client sends GET /v1/no-such-route to the gateway
    Then the response status is 404
    And the response is an error envelope with code "NOT_FOUND"
