"""The memory and the agent as a service: ``vimrag serve`` (REST + Server-Sent Events, MCP at ``/mcp``, a
web page at ``/``) and ``vimrag mcp`` (MCP on stdio). :mod:`vimrag.server.service` holds the logic; the
HTTP routes (:mod:`vimrag.server.http`) and MCP tools (:mod:`vimrag.server.mcp_tools`) are thin layers.
"""
