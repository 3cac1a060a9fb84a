"""A real MLLP receiver for the gateway's tests, in its own process.

Built on the ``hl7`` package's asyncio MLLP server (``hl7.mllp``), an implementation
independent of the gateway's own sender. Each received message is appended to
``--out`` as one JSON line (``control_id``, ``type``, ``raw``) and flushed *before* the
acknowledgement goes out, so a message the gateway saw acknowledged is on file.
``--refuse CODE:TEXT`` answers ``CODE`` (AE or AR) to messages containing TEXT;
``--ora`` answers PCD-04 with ``ORA^R41`` instead of ``ACK``. Prints ``ready PORT``.

    python -m tests.edge.station.gateway.mllp_receiver --port 2575 --out msgs.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

import hl7
from hl7.mllp import start_hl7_server


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--refuse", action="append", default=[], metavar="CODE:TEXT")
    p.add_argument("--ora", action="store_true")
    args = p.parse_args()
    refuse = [tuple(r.split(":", 1)) for r in args.refuse]
    out = open(args.out, "a", encoding="utf-8")  # noqa: SIM115 (lives as long as the process)

    async def client(reader, writer):
        try:
            while not writer.is_closing():
                msg = await reader.readmessage()
                raw = str(msg)
                msh = msg.segment("MSH")
                out.write(
                    json.dumps({"control_id": str(msh(10)), "type": str(msh(9)), "raw": raw}) + "\n"
                )
                out.flush()
                os.fsync(out.fileno())
                code = next((c for c, text in refuse if text in raw), "AA")
                ack = msg.create_ack(code)
                if args.ora and str(msh(9)).startswith("ORU^R40"):
                    ack.segment("MSH").assign_field("ORA", 9, 1, 1)
                    ack.segment("MSH").assign_field("R41", 9, 1, 2)
                    ack.segment("MSH").assign_field("ORA_R41", 9, 1, 3)
                writer.writemessage(ack)
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    async def serve():
        server = await start_hl7_server(client, "127.0.0.1", args.port, encoding="utf-8")
        print(f"ready {args.port}", flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    finally:
        out.close()
    _ = hl7  # the parser the server uses


if __name__ == "__main__":
    sys.exit(main())
