"""Drives moto's SNS server with boto3: topics, an HTTP subscription to
Firebell, and publishes (moto POSTs each one to the subscribed URL before
Publish returns).

Usage:
  sns_moto.py MOTO_URL topic NAME                 prints "topic ARN"
  sns_moto.py MOTO_URL subscribe TOPIC_ARN URL    prints "subscription ARN"
  sns_moto.py MOTO_URL publish TOPIC_ARN MESSAGE  prints "message-id ID"

moto signs the string to sign without `Subject`, so a signed delivery only
verifies when it is published without one; these commands never set it.
"""
import sys

import boto3

moto_url, command, *args = sys.argv[1:]
sns = boto3.client(
    "sns",
    endpoint_url=moto_url,
    region_name="eu-west-1",
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
)

if command == "topic":
    (name,) = args
    print("topic", sns.create_topic(Name=name)["TopicArn"])
elif command == "subscribe":
    topic_arn, url = args
    sub = sns.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=url)
    print("subscription", sub["SubscriptionArn"])
elif command == "publish":
    topic_arn, message = args
    print("message-id", sns.publish(TopicArn=topic_arn, Message=message)["MessageId"])
else:
    sys.exit(f"unknown command {command!r}")
