"""The live-delivery benchmark's parts (``bench/subscribers.py`` runs them): who subscribes to what
(``plan``), the data they follow (``seed``), the servers and their memory (``servers``), the client
processes holding the sockets (``client``), the changes committed through the API (``commits``) and the
count of what arrived (``tally``)."""
