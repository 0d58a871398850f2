# Frame header coding and the batch frame decoder.
