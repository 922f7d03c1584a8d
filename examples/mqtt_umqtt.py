"""MQTT through the modem with micropython-lib's unmodified ``umqtt.simple``.

``slm_mpy.socket`` stands in for the ``socket`` module, so ``umqtt.simple`` opens its TCP
connection through SLM's TCP proxy. The binding must happen before ``umqtt.simple`` is
imported (it does ``import usocket as socket`` at import time).

Board: copy ``slm_mpy/``, ``umqtt/simple.py`` (``mip install umqtt.simple``), this file and
``modem_setup.py``; set MQTT_HOST below. Unix port against the simulator::

    SLM_SIM_PORT=<sim port> MQTT_HOST=localhost MQTT_PORT=1883 \\
    MICROPYPATH=<repo>:<dir holding umqtt/>:.frozen micropython examples/mqtt_umqtt.py
"""

import sys
import time

import slm_mpy.socket
from modem_setup import open_modem, setting

modem = open_modem()
sys.modules["socket"] = slm_mpy.socket
sys.modules["usocket"] = slm_mpy.socket
sys.modules["ussl"] = slm_mpy.socket  # only used with ssl=True: wrap_socket(sock, sec_tag=...)
from umqtt.simple import MQTTClient  # noqa: E402  (after the binding, on purpose)

HOST = setting("MQTT_HOST", "test.mosquitto.org")
PORT = int(setting("MQTT_PORT", "1883"))
SEC_TAG = setting("MQTT_SEC_TAG")  # TLS with the modem's credentials under this tag
TOPIC = b"slm_mpy/example"

received = []


def on_message(topic, msg):
    print("received", topic, msg)
    received.append((topic, msg))


if SEC_TAG is None:
    client = MQTTClient(b"slm-mpy-example", HOST, PORT, keepalive=60)
else:  # umqtt connects, then wraps: the modem reconnects with TLS (nothing was sent yet)
    tls = {"sec_tag": int(SEC_TAG), "server_hostname": HOST}
    client = MQTTClient(b"slm-mpy-example", HOST, PORT, keepalive=60, ssl=True, ssl_params=tls)
client.set_callback(on_message)
client.connect()  # socket.getaddrinfo(HOST) -> AT#XGETADDRINFO, then AT#XTCPCLI
print("connected to", HOST, PORT)
client.subscribe(TOPIC, qos=1)
client.publish(TOPIC, b"hello at QoS 0")
client.publish(TOPIC, b"hello at QoS 1", qos=1)  # returns after the broker's PUBACK
print("published")

start = time.ticks_ms()
while len(received) < 2:
    if time.ticks_diff(time.ticks_ms(), start) > 20000:
        raise OSError(110, "own messages not received: %r" % received)
    if client.check_msg() is None:  # non-blocking read: None when nothing waits
        modem.transport.wait(20)
assert sorted(m for _, m in received) == [b"hello at QoS 0", b"hello at QoS 1"], received
client.disconnect()
print("disconnected; MQTT example done")
