"""A vpclab client that knows only the proto files: the ping/ACL asymmetry over gRPC.

    pip install grpcio grpcio-tools
    python -m grpc_tools.protoc -I ../../proto --python_out=. --grpc_python_out=. \
        ../../proto/vpclab/v1/*.proto
    python client.py 127.0.0.1:50051

It builds a VPC with a security group that allows ICMP in, a network ACL that allows ICMP in
but not out, an instance and a host on the internet; attaches a flow log to a log stream;
pings the instance four times; moves the virtual clock past the capture window; and prints
the two records: the requests ACCEPTed inbound, the replies REJECTed outbound.
"""

import sys

import grpc
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2

from vpclab.v1 import logs_pb2 as logs
from vpclab.v1 import logs_pb2_grpc
from vpclab.v1 import network_pb2 as net
from vpclab.v1 import network_pb2_grpc
from vpclab.v1 import simulation_pb2 as sim
from vpclab.v1 import simulation_pb2_grpc

channel = grpc.insecure_channel(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051")
network = network_pb2_grpc.NetworkServiceStub(channel)
logsvc = logs_pb2_grpc.LogServiceStub(channel)
simsvc = simulation_pb2_grpc.SimulationServiceStub(channel)

project = simsvc.GetProject(sim.GetProjectRequest(name="projects/-"))
P = project.name
print(f"{P}: {project.provider}, clock at {project.clock.now.ToJsonString()}")

vpc = network.CreateVpc(net.CreateVpcRequest(parent=P, vpc=net.Vpc(display_name="main", cidr="172.31.0.0/16")))
igw = network.CreateInternetGateway(
    net.CreateInternetGatewayRequest(parent=P, internet_gateway=net.InternetGateway(vpc=vpc.name)))
network.UpdateRouteTable(net.UpdateRouteTableRequest(
    route_table=net.RouteTable(name=vpc.main_route_table,
                               routes=[net.Route(destination="0.0.0.0/0", internet_gateway=igw.name)]),
    update_mask=field_mask_pb2.FieldMask(paths=["routes"])))
anywhere = "0.0.0.0/0"
sg = network.CreateSecurityGroup(net.CreateSecurityGroupRequest(parent=P, security_group=net.SecurityGroup(
    display_name="web-sg", vpc=vpc.name, rules=[
        net.SecurityGroupRule(direction=net.INGRESS, protocol="icmp", cidr=anywhere),
        net.SecurityGroupRule(direction=net.EGRESS, protocol="tcp", ports="443", cidr=anywhere)])))
acl = network.CreateNetworkAcl(net.CreateNetworkAclRequest(parent=P, network_acl=net.NetworkAcl(
    display_name="web-acl", vpc=vpc.name, entries=[
        net.NetworkAclEntry(number=100, direction=net.INGRESS, action=net.ALLOW, protocol="icmp", cidr=anywhere),
        net.NetworkAclEntry(number=100, direction=net.EGRESS, action=net.ALLOW, protocol="tcp", ports="443",
                            cidr=anywhere)])))
subnet = network.CreateSubnet(net.CreateSubnetRequest(parent=P, subnet=net.Subnet(
    display_name="web", vpc=vpc.name, cidr="172.31.16.0/20", network_acl=acl.name)))
eni = network.CreateNetworkInterface(net.CreateNetworkInterfaceRequest(parent=P, network_interface=net.NetworkInterface(
    display_name="instance", subnet=subnet.name, private_ip="172.31.16.139", elastic_ip="198.51.100.10",
    security_groups=[sg.name])))
home = simsvc.CreateExternalHost(sim.CreateExternalHostRequest(
    parent=P, external_host=sim.ExternalHost(display_name="home", ip="203.0.113.12")))

group = logsvc.CreateLogGroup(logs.CreateLogGroupRequest(parent=P, log_group=logs.LogGroup(display_name="vpc-flow-logs")))
stream = logsvc.CreateLogStream(logs.CreateLogStreamRequest(
    parent=P, log_stream=logs.LogStream(display_name="instance", log_group=group.name)))
logsvc.CreateFlowLog(logs.CreateFlowLogRequest(parent=P, flow_log=logs.FlowLog(
    display_name="instance-flows", resource=eni.name, log_stream=stream.name)))

simsvc.InjectTraffic(sim.InjectTrafficRequest(parent=P, ping=sim.Ping(
    **{"from": home.name}, to=eni.name, count=4, interval=duration_pb2.Duration(seconds=38))))
clock = simsvc.Advance(sim.AdvanceRequest(parent=P, by=duration_pb2.Duration(seconds=600)))
print(f"clock now {clock.now.ToJsonString()}")

for r in logsvc.QueryRecords(logs.QueryRecordsRequest(log_stream=stream.name, keywords=["OK"])).records:
    print(r.line)

# A refused request: the error says which field and why (google.rpc.BadRequest in the details).
try:
    network.CreateSubnet(net.CreateSubnetRequest(parent=P, subnet=net.Subnet(
        display_name="outside", vpc=vpc.name, cidr="10.9.0.0/24")))
except grpc.RpcError as e:
    print(f"refused: {e.code().name}: {e.details()}")
