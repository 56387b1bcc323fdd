@hive
Feature: Hive health and unknown routes
  The hive answers rbee's health route while it is up, and every route it does not
  know is reported in the error envelope rather than as a bare page.

  @HIVE-HEALTH-001
  Scenario: The health route answers while the hive is up, without a token, also once it has workers
    Given a worker for model "acme/tiny-chat" is running on GPU 0
    When a client calls the hive's health route without a token
    Then the response status is 200

  @HIVE-ENV-002 @HIVE-ENV-001
  Scenario: An unknown route answers 404 NOT_FOUND in the error envelope
    Given the hive is running
    When a client sends GET /v1/no-such-route to the hive
    Then the response status is 404
    And the response is an error envelope with code "NOT_FOUND"
