"""Renderers: turn a recorded trace into diagrams (SVG, DOT, Mermaid, PlantUML, text)."""
