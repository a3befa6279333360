#!/usr/bin/env python3
"""Seeds moto's AWS server with a small multi-account estate and prints what it made as JSON.

Each account is reached the way the refresh reaches it: STS AssumeRole into
arn:aws:iam::<id>:role/connection-tracker-reader, after which moto acts as that account.
Per account and region: a VPC with a classic ELB, an ALB and an NLB (moto creates no interfaces
for load balancers, so each gets an `ELB …` interface with an Elastic IP), an EC2 instance with
an Elastic IP, one with an auto-assigned public IP, a publicly accessible RDS database (its
`RDSNetworkInterface` made here too), a NAT gateway, an interface with another description, a
private-only interface and `--extra` more public ones (to exceed a describe page), a flow log with
a custom format. The accounts table (DynamoDB) lists them, plus a disabled account.

Usage: moto_estate.py --endpoint URL --table NAME --accounts ID,ID --regions R,R
                      [--disabled ID] [--extra N] [--only ID/REGION]
"""
import argparse
import json
import sys

import boto3

ROLE = "connection-tracker-reader"
FORMAT = ("${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
          "${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${vpc-id} ${flow-direction}")


def session(endpoint, account, region):
    base = dict(endpoint_url=endpoint, region_name=region,
                aws_access_key_id="testing", aws_secret_access_key="testing")
    creds = boto3.client("sts", **base).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="estate-seed")["Credentials"]
    return dict(endpoint_url=endpoint, region_name=region,
                aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"])


def public_ip(n, k):
    """A distinct, public-looking address per (account number, k)."""
    return f"52.{16 + n // 250}.{n % 250}.{k}"


def seed_region(endpoint, account, region, n, extra):
    kw = session(endpoint, account, region)
    ec2 = boto3.client("ec2", **kw)
    elb = boto3.client("elb", **kw)
    elbv2 = boto3.client("elbv2", **kw)
    rds = boto3.client("rds", **kw)
    out = {"account": account, "region": region, "interfaces": {}, "own": {}, "formats": {}}

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{az}")["Subnet"]["SubnetId"]
               for i, az in ((1, "a"), (2, "b"))]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    sg = ec2.create_security_group(GroupName="public", Description="public", VpcId=vpc)["GroupId"]
    db_sg = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    # The public group's ingress: three rules open to the internet (a block, IPv6, a prefix
    # list), one from a private block and one from another group (neither reviewed).
    office = ec2.create_managed_prefix_list(PrefixListName="office", MaxEntries=5, AddressFamily="IPv4",
                                            Entries=[{"Cidr": "85.1.0.0/16"}])["PrefixList"]["PrefixListId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "ssh"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        {"IpProtocol": "tcp", "FromPort": 8443, "ToPort": 8443, "PrefixListIds": [{"PrefixListId": office}]},
        {"IpProtocol": "tcp", "FromPort": 10022, "ToPort": 10022, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": db_sg}]},
    ])
    out["ingress"] = {sg: [["tcp", 22, 22, "0.0.0.0/0"], ["tcp", 443, 443, "::/0"],
                           ["tcp", 8443, 8443, office + "=85.1.0.0/16"]]}
    k = [10]

    def eip():
        k[0] += 1
        a = ec2.allocate_address(Domain="vpc", Address=public_ip(n, k[0]))
        return a["AllocationId"], a["PublicIp"]

    def eni(description, groups=(sg,), public=True, subnet=0):
        i = ec2.create_network_interface(SubnetId=subnets[subnet], Description=description, Groups=list(groups))["NetworkInterface"]
        ip = None
        if public:
            alloc, ip = eip()
            ec2.associate_address(AllocationId=alloc, NetworkInterfaceId=i["NetworkInterfaceId"])
        return i["NetworkInterfaceId"], i["PrivateIpAddress"], ip

    def record(kind, eni_id, private, public, **extra_fields):
        out["interfaces"][kind] = dict(id=eni_id, private=private, public=public, **extra_fields)

    # Classic ELB
    name = f"legacy{n}"
    dns = elb.create_load_balancer(LoadBalancerName=name, Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
                                   Subnets=[subnets[0]], SecurityGroups=[sg])["DNSName"]
    record("classic_elb", *eni(f"ELB {name}"), dns=dns)
    # ALB and NLB
    for kind, lb_type in (("alb", "application"), ("nlb", "network")):
        lb = elbv2.create_load_balancer(Name=f"{kind}{n}", Subnets=subnets, Type=lb_type,
                                        **({"SecurityGroups": [sg]} if lb_type == "application" else {}))["LoadBalancers"][0]
        key = lb["LoadBalancerArn"].split(":loadbalancer/")[1]
        # moto names NLB ARNs loadbalancer/app/… too; AWS writes net/… (the key is used as given)
        record(kind, *eni(f"ELB {key}"), dns=lb["DNSName"])
    # EC2 with an Elastic IP
    inst = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnets[0],
                             TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": f"web{n}"}]}])["Instances"][0]
    alloc, ip = eip()
    ec2.associate_address(AllocationId=alloc, InstanceId=inst["InstanceId"])
    record("ec2_eip", inst["NetworkInterfaces"][0]["NetworkInterfaceId"], inst["PrivateIpAddress"], ip, name=f"web{n}")
    # EC2 with an auto-assigned public IP
    inst = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                             NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnets[1], "AssociatePublicIpAddress": True, "Groups": [sg]}],
                             TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": f"api{n}"}]}])["Instances"][0]
    record("ec2_auto", inst["NetworkInterfaces"][0]["NetworkInterfaceId"], inst["PrivateIpAddress"], inst["PublicIpAddress"], name=f"api{n}")
    # RDS, publicly accessible, and its interface (same subnet and security group)
    rds.create_db_subnet_group(DBSubnetGroupName=f"db{n}", DBSubnetGroupDescription="db", SubnetIds=subnets)
    db = rds.create_db_instance(DBInstanceIdentifier=f"orders{n}", DBInstanceClass="db.t3.micro", Engine="postgres",
                                MasterUsername="admin1", MasterUserPassword="secret-password", AllocatedStorage=20,
                                PubliclyAccessible=True, DBSubnetGroupName=f"db{n}", VpcSecurityGroupIds=[db_sg])["DBInstance"]
    record("rds", *eni("RDSNetworkInterface", groups=(db_sg,)), endpoint=db["Endpoint"]["Address"])
    # NAT gateway; moto leaves its interface's description empty, AWS writes this one
    alloc, ip = eip()
    nat = ec2.create_nat_gateway(SubnetId=subnets[0], AllocationId=alloc,
                                 TagSpecifications=[{"ResourceType": "natgateway", "Tags": [{"Key": "Name", "Value": f"nat-{region}a"}]}])["NatGateway"]
    nat_eni = nat["NatGatewayAddresses"][0]["NetworkInterfaceId"]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=nat_eni, Description={"Value": f"Interface for NAT Gateway {nat['NatGatewayId']}"})
    record("nat", nat_eni, nat["NatGatewayAddresses"][0].get("PrivateIp"), ip)
    out["own"][ip] = f"{account}/{region}/nat-{region}a"
    # An unattached Elastic IP, tagged: one of our addresses too
    a = ec2.allocate_address(Domain="vpc", Address=public_ip(n, 250),
                             TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": "spare"}]}])
    out["own"][a["PublicIp"]] = f"{account}/{region}/spare"
    # Another description, and a private-only interface
    record("other", *eni("bastion appliance"))
    record("private", *eni("Primary network interface", public=False))
    for i in range(extra):
        record(f"extra{i}", *eni(f"extra appliance {i}", subnet=i % 2))
    # Flow log with a custom format to CloudWatch Logs
    ec2.create_flow_logs(ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL", LogDestinationType="cloud-watch-logs",
                         LogGroupName="/connection-tracker/flow-logs", LogFormat=FORMAT,
                         DeliverLogsPermissionArn=f"arn:aws:iam::{account}:role/flow-logs")
    out["formats"][f"{account}:/connection-tracker/flow-logs"] = FORMAT
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--accounts", required=True)
    p.add_argument("--regions", required=True)
    p.add_argument("--disabled", default="")
    p.add_argument("--extra", type=int, default=0)
    p.add_argument("--central-region", default="eu-west-1")
    a = p.parse_args()
    accounts = [x for x in a.accounts.split(",") if x]
    regions = [x for x in a.regions.split(",") if x]
    ddb = boto3.client("dynamodb", endpoint_url=a.endpoint, region_name=a.central_region,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    ddb.create_table(TableName=a.table, KeySchema=[{"AttributeName": "account_id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "account_id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    estate = []
    for i, account in enumerate(accounts):
        ddb.put_item(TableName=a.table, Item={"account_id": {"S": account}, "name": {"S": f"team{i}"},
                                              "regions": {"L": [{"S": r} for r in regions]}})
        for j, region in enumerate(regions):
            # n numbers the account/region: its addresses and names are its own
            estate.append(seed_region(a.endpoint, account, region, i * len(regions) + j, a.extra))
    for account in [x for x in a.disabled.split(",") if x]:
        ddb.put_item(TableName=a.table, Item={"account_id": {"S": account}, "name": {"S": "retired"},
                                              "enabled": {"BOOL": False}})
    json.dump(estate, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
