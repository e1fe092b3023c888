"""Creates the service's resources in the local moto server, from infra/template.yaml.

What the template declares (bucket settings, table keys and indexes, user pool, app
client, admins group, the upload failure queue, the events queue and bus) is created from
the template's own properties, but for the bucket policy that refuses plain HTTP: moto
holds every request to it as insecure (the local stack speaks HTTP on 127.0.0.1) and would
refuse them all. What stands in for parts of the cloud that Chalice wires up on deploy (the
S3 -> Lambda notification) is made here as S3 -> SQS, which the event pump drains; it sends
an event that failed every try to the failure queue, as Lambda's on-failure destination
does. The bus gets a rule to a queue that the devserver's bus consumer drains, standing in
for the systems subscribed to it. The template's log groups and alarms are not made:
locally the logs go to the console, and no CloudWatch watches them.
"""

from dataclasses import dataclass
from typing import Any

import boto3

from devserver import template as cfn

DEMO_PASSWORD = "Demo-password-1"  # noqa: S105 (a local, printed demo credential)
DEMO_USERS = {"demo": False, "admin": True}  # name -> member of admins


@dataclass(frozen=True)
class Outputs:
    bucket: str
    table: str
    user_pool_id: str
    user_pool_arn: str
    app_client_id: str
    queue_url: str
    region: str
    failure_queue_url: str = ""
    events_queue: str = ""
    events_queue_url: str = ""
    event_bus: str = ""
    bus_consumer_url: str = ""

    def environment(self) -> dict[str, str]:
        """The app's variables naming these resources (what scripts/infra.py writes from a
        stack's outputs in the cloud)."""
        return {
            "BUCKET_NAME": self.bucket,
            "TABLE_NAME": self.table,
            "USER_POOL_ID": self.user_pool_id,
            "USER_POOL_ARN": self.user_pool_arn,
            "APP_CLIENT_ID": self.app_client_id,
            "EVENTS_QUEUE": self.events_queue,
            "EVENTS_QUEUE_URL": self.events_queue_url,
            "EVENT_BUS_NAME": self.event_bus,
        }


def _client(service: str, endpoint: str | None, region: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=region)


def provision(endpoint: str | None, region: str, stage: str = "local") -> Outputs:
    template = cfn.load()
    parameters = cfn.parameter_defaults(template)
    parameters["Stage"] = stage
    bucket = f"image-service-{stage}"
    table = f"image-service-{stage}"
    resources: dict[str, Any] = {}

    bucket_id, bucket_props = cfn.resource(template, "AWS::S3::Bucket")
    resources[bucket_id] = bucket
    create_bucket(
        _client("s3", endpoint, region), bucket, cfn.resolve(bucket_props, parameters, resources)
    )

    table_id, table_props = cfn.resource(template, "AWS::DynamoDB::Table")
    resources[table_id] = table
    create_table(
        _client("dynamodb", endpoint, region),
        table,
        cfn.resolve(table_props, parameters, resources),
    )

    idp = _client("cognito-idp", endpoint, region)
    pool_id_logical, pool_props = cfn.resource(template, "AWS::Cognito::UserPool")
    pool = create_user_pool(idp, cfn.resolve(pool_props, parameters, resources))
    resources[pool_id_logical] = pool["Id"]
    resources[f"{pool_id_logical}.Arn"] = pool["Arn"]
    _, client_props = cfn.resource(template, "AWS::Cognito::UserPoolClient")
    client_id = create_app_client(idp, cfn.resolve(client_props, parameters, resources))
    _, group_props = cfn.resource(template, "AWS::Cognito::UserPoolGroup")
    group = cfn.resolve(group_props, parameters, resources)
    idp.create_group(
        UserPoolId=group["UserPoolId"],
        GroupName=group["GroupName"],
        Description=group.get("Description", ""),
    )
    for name, is_admin in DEMO_USERS.items():
        create_user(idp, pool["Id"], name, DEMO_PASSWORD, ["admins"] if is_admin else [])

    queue_url = connect_uploads_to_queue(
        _client("s3", endpoint, region), _client("sqs", endpoint, region), bucket, stage
    )
    sqs = _client("sqs", endpoint, region)
    failures = create_queue(
        sqs, cfn.resolve(cfn.properties(template, "UploadFailures"), parameters, resources)
    )
    events_queue = cfn.resolve(cfn.properties(template, "EventsQueue"), parameters, resources)
    events_queue_url = create_queue(sqs, events_queue)
    _, bus_props = cfn.resource(template, "AWS::Events::EventBus")
    bus = cfn.resolve(bus_props, parameters, resources)["Name"]
    bus_events = _client("events", endpoint, region)
    bus_events.create_event_bus(Name=bus)
    consumer_url = subscribe_local_consumer(bus_events, sqs, bus, stage)
    return Outputs(
        bucket,
        table,
        pool["Id"],
        pool["Arn"],
        client_id,
        queue_url,
        region,
        failures,
        events_queue["QueueName"],
        events_queue_url,
        bus,
        consumer_url,
    )


def create_queue(sqs: Any, props: dict[str, Any]) -> str:
    """A queue as the template declares it (its attributes as SQS spells them)."""
    attributes = {
        name: str(props[name]).lower() if isinstance(props[name], bool) else str(props[name])
        for name in ("VisibilityTimeout", "MessageRetentionPeriod", "SqsManagedSseEnabled")
        if name in props
    }
    return sqs.create_queue(QueueName=props["QueueName"], Attributes=attributes)["QueueUrl"]


def subscribe_local_consumer(events: Any, sqs: Any, bus: str, stage: str) -> str:
    """What stands in for the systems that subscribe to the bus in the cloud: a rule sending
    every event of the service to a queue, which the devserver's bus consumer drains."""
    url = sqs.create_queue(QueueName=f"image-service-{stage}-bus-consumer")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="local-consumer", EventBusName=bus, EventPattern='{"source": ["image-service"]}'
    )
    events.put_targets(
        Rule="local-consumer", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}]
    )
    return url


def create_bucket(s3: Any, name: str, props: dict[str, Any]) -> None:
    s3.create_bucket(Bucket=name)
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    if "OwnershipControls" in props:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
    if "BucketEncryption" in props:
        rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]}
                    for r in rules
                ]
            },
        )
    if "CorsConfiguration" in props:
        rules = [_cors_rule(rule) for rule in props["CorsConfiguration"]["CorsRules"]]
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
    if "LifecycleConfiguration" in props:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name,
            LifecycleConfiguration={
                "Rules": [_lifecycle_rule(r) for r in props["LifecycleConfiguration"]["Rules"]]
            },
        )


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's CorsRule, spelled as the S3 API spells it."""
    renamed = {"ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds"}
    converted = {renamed.get(key, key): value for key, value in rule.items() if key != "Id"}
    if "MaxAgeSeconds" in converted:
        converted["MaxAgeSeconds"] = int(converted["MaxAgeSeconds"])
    return converted


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {
        "ID": rule["Id"],
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        converted["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return converted


def create_table(dynamodb: Any, name: str, props: dict[str, Any]) -> None:
    dynamodb.create_table(
        TableName=name,
        BillingMode=props["BillingMode"],
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props.get("GlobalSecondaryIndexes", []),
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
        dynamodb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )


def create_user_pool(idp: Any, props: dict[str, Any]) -> dict[str, Any]:
    pool = idp.create_user_pool(
        PoolName=props["UserPoolName"],
        Policies=props.get("Policies", {}),
        AutoVerifiedAttributes=props.get("AutoVerifiedAttributes", []),
        UsernameConfiguration=props.get("UsernameConfiguration", {}),
        AdminCreateUserConfig=_admin_create_user_config(props),
        DeletionProtection=props.get("DeletionProtection", "INACTIVE"),
    )["UserPool"]
    return {"Id": pool["Id"], "Arn": pool["Arn"]}


def _admin_create_user_config(props: dict[str, Any]) -> dict[str, Any]:
    """The template's AdminCreateUserConfig; a parameter arrives as CloudFormation's string."""
    config = dict(props.get("AdminCreateUserConfig", {}))
    if "AllowAdminCreateUserOnly" in config:
        config["AllowAdminCreateUserOnly"] = str(config["AllowAdminCreateUserOnly"]) == "true"
    return config


def create_app_client(idp: Any, props: dict[str, Any]) -> str:
    names = (
        "ClientName",
        "GenerateSecret",
        "ExplicitAuthFlows",
        "PreventUserExistenceErrors",
        "IdTokenValidity",
        "AccessTokenValidity",
        "RefreshTokenValidity",
        "TokenValidityUnits",
    )
    client = idp.create_user_pool_client(
        UserPoolId=props["UserPoolId"], **{k: props[k] for k in names if k in props}
    )
    return client["UserPoolClient"]["ClientId"]


def create_user(idp: Any, pool_id: str, name: str, password: str, groups: list[str]) -> None:
    idp.admin_create_user(
        UserPoolId=pool_id,
        Username=name,
        MessageAction="SUPPRESS",
        UserAttributes=[
            {"Name": "email", "Value": f"{name}@example.com"},
            {"Name": "email_verified", "Value": "true"},
        ],
    )
    idp.admin_set_user_password(
        UserPoolId=pool_id, Username=name, Password=password, Permanent=True
    )
    for group in groups:
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=name, GroupName=group)


def connect_uploads_to_queue(s3: Any, sqs: Any, bucket: str, stage: str) -> str:
    queue_url = sqs.create_queue(QueueName=f"image-service-{stage}-uploads")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
                }
            ]
        },
    )
    return queue_url
