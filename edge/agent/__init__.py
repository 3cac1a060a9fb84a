"""The live bedside agent: device threads -> core -> dispatch, systemd integration.

:mod:`edge.agent.runtime` wires drivers, the core and messaging for ``capleak run``
(with :mod:`~edge.agent.corestate`, :mod:`~edge.agent.technical`,
:mod:`~edge.agent.wallclock`, :mod:`~edge.agent.offline` and :mod:`~edge.agent.logs`);
:mod:`edge.agent.dispatch` turns core outputs into alert-book events and outbox
messages; :mod:`edge.agent.sdnotify` speaks systemd's notify protocol.
"""
