"""`naestro eval generate`: a problem set run through Naestro under several policies, each
answer checked with the problem's own hidden test, and the policies compared side by side."""
