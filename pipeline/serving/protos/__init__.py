r"""TF Serving's config protos that the ``tensorflow-serving-api`` wheel leaves out.

``tensorflow-serving-api`` 2.16.1 ships the ``apis`` protos and
``tensorflow_serving.config.model_server_config_pb2``, but not
``tensorflow_serving/config/monitoring_config.proto`` (``--monitoring_config_file``)
nor ``tensorflow_serving/servables/tensorflow/session_bundle_config.proto``
(``BatchingParameters``, ``--batching_parameters_file``). The two ``.proto`` files
here are TF Serving's own, copied unchanged from tensorflow/serving at tag 2.16.1
(Apache License 2.0), and the ``*_pb2.py``/``*_pb2.pyi`` modules are protoc's output
for them, under their original proto file names and package ``tensorflow.serving``, so
text-format parsing is exactly the model server's. Regenerate with (Debian's
``protobuf-compiler``; TensorFlow's wheel ships the imported TensorFlow protos)::

    mkdir -p /tmp/o /tmp/p/tensorflow_serving/config /tmp/p/tensorflow_serving/servables/tensorflow
    cp monitoring_config.proto /tmp/p/tensorflow_serving/config/
    cp session_bundle_config.proto /tmp/p/tensorflow_serving/servables/tensorflow/
    protoc -I/tmp/p -I$VIRTUAL_ENV/lib/python3.10/site-packages/tensorflow/include \
        -I/usr/include --python_out=/tmp/o --pyi_out=/tmp/o \
        tensorflow_serving/config/monitoring_config.proto \
        tensorflow_serving/servables/tensorflow/session_bundle_config.proto
    cp /tmp/o/tensorflow_serving/config/* /tmp/o/tensorflow_serving/servables/tensorflow/* .
"""
