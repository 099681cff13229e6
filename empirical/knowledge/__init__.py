"""Knowledge sets generated at the token level: the shared pieces (base), SynBio, the reasoning tasks, your own facts files, and the JSON-lines reader."""
