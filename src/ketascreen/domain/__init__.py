"""Pure types shared by every layer: levels, fact specs and the screening result."""
