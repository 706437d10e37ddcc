"""Asyncio-first SDK for writing score results to the Plexus dashboard API."""
